"""cfn-lint passes on every synthesized template (W3005 is CDK's redundant DependsOn, which is harmless)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stacks.synth import Synthesis

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_cfn_lint_is_clean(synthesis: Synthesis, variant_synthesis: Synthesis, tmp_path: Path) -> None:
    # Every stack of both: the minimal variant only leaves rules out of the default template, and the variant
    # adds the forwarders and the StackSet.
    files = []
    for name, templates in (("default", synthesis.templates), ("variant", variant_synthesis.templates)):
        for stack, body in templates.items():
            path = tmp_path / f"{name}.{stack}.template.json"
            path.write_text(json.dumps(body))
            files.append(str(path))
    result = subprocess.run(
        [str(CFN_LINT), *files, "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
