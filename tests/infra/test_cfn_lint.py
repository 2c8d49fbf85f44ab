"""cfn-lint passes on every synthesized template (W3005 is CDK's redundant DependsOn, which is harmless)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.cfn import Template

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_cfn_lint_is_clean(template: Template, variant_template: Template, tmp_path: Path) -> None:
    # The minimal variant only leaves rules out of the default template; these two cover every resource.
    files = []
    for name, body in (("default", template), ("variant", variant_template)):
        path = tmp_path / f"{name}.template.json"
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
