"""cfn-lint passes on every synthesized template (W3005 is CDK's redundant DependsOn, which is harmless)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.synth import Synthesis

pytestmark = pytest.mark.long

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
IGNORED = ("W3005",)
# CDK Pipelines writes the deploy actions' role ARNs as Fn::Join with an empty delimiter, which E3703 would
# have as Fn::Sub: a matter of style in the generated pipeline, which only that stack is spared.
IGNORED_IN_PIPELINE = (*IGNORED, "E3703")


def _write(directory: Path, name: str, templates: dict[str, dict[str, Any]]) -> list[str]:
    files = []
    for stack, body in templates.items():
        path = directory / f"{name}.{stack}.template.json"
        path.write_text(json.dumps(body))
        files.append(str(path))
    return files


def test_cfn_lint_is_clean(
    synthesis: Synthesis, variant_synthesis: Synthesis, pipeline_synthesis: Synthesis, tmp_path: Path
) -> None:
    # Every stack of both: the minimal variant only leaves rules out of the default template, and the variant
    # adds the forwarders and the StackSet. Of the pipeline's synthesis, the stacks the variant does not have:
    # the others are the variant's (tests/infra/test_pipeline.py).
    stacks = [
        *_write(tmp_path, "default", synthesis.templates),
        *_write(tmp_path, "variant", variant_synthesis.templates),
    ]
    pipeline = _write(
        tmp_path,
        "pipeline",
        {k: v for k, v in pipeline_synthesis.templates.items() if k not in variant_synthesis.templates},
    )
    runs = [
        subprocess.Popen(
            [str(CFN_LINT), *files, "--ignore-checks", *ignored],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for files, ignored in ((stacks, IGNORED), (pipeline, IGNORED_IN_PIPELINE))
    ]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output
