"""`tourniquet simulate` with several files: each file that fails gets one line, and the others still run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sandbox.core import Sandbox
from sandbox.seed import SeedError
from tests.helpers import load_event
from tests.workflow.runner import Runner
from tourniquet_cli import scenario
from tourniquet_cli.main import app


@pytest.fixture
def shared_sandbox(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """simulate runs in the module's sandbox instead of starting its own."""

    @contextmanager
    def pooled(_decision: str, **_options: object) -> Iterator[Sandbox]:
        yield sandbox

    monkeypatch.setattr(scenario, "sandbox_for", pooled)
    return sandbox


def _write(path: Path, event: dict[str, Any]) -> Path:
    path.write_text(json.dumps(event))
    return path


def test_files_that_fail_are_reported_one_line_each_and_the_others_still_run(
    shared_sandbox: Sandbox, runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    unreadable = tmp_path / "1-unreadable.json"
    unreadable.write_text("{not json")
    unseedable = _write(tmp_path / "2-unseedable.json", runner.event())
    broken = _write(tmp_path / "3-broken.json", runner.event())
    # A resolved alert: it runs through the workflow quickly, to an outcome of its own.
    good = _write(tmp_path / "4-good.json", load_event("alertmanager_v4_resolved"))
    failing = {
        json.loads(unseedable.read_text())["detail"]["id"]: SeedError("the sandbox refused CreateSubnet"),
        json.loads(broken.read_text())["detail"]["id"]: RuntimeError("something\nunforeseen"),
    }
    map_alert = shared_sandbox.map_alert

    def map_or_fail(event: dict[str, Any], **options: Any) -> tuple[dict[str, Any], dict[str, str]]:
        problem = failing.get(event.get("detail", {}).get("id"))
        if problem is not None:
            raise problem
        return map_alert(event, **options)

    monkeypatch.setattr(shared_sandbox, "map_alert", map_or_fail)

    result = CliRunner().invoke(
        app, ["simulate", "--json", str(unreadable), str(unseedable), str(broken), str(good)]
    )

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {unreadable}: invalid JSON at line 1 column 2: "
        "Expecting property name enclosed in double quotes",
        f"error: {unseedable}: no look-alikes: the sandbox refused CreateSubnet",
        f"error: {broken}: RuntimeError: something unforeseen",
    ]
    [line] = result.stdout.splitlines()
    assert json.loads(line)["status"] == "resolved"
    assert "Traceback" not in result.output
