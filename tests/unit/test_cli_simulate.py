"""`tourniquet simulate` refuses unusable files before starting anything: exit 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import EVENTS, load_event
from tourniquet_cli import scenario, simulate_cmd
from tourniquet_cli.alert_files import read_alerts
from tourniquet_cli.main import app


def _simulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON at line 1 column 2"),
        ("[1, 2]", "expected a JSON object, got list"),
        (
            json.dumps({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": {}}),
            "detail.",
        ),
        (json.dumps({"hello": "world"}), "unrecognized event"),
    ],
    ids=["bad-json", "not-an-object", "missing-fields", "unknown-format"],
)
def test_an_unusable_file_exits_2_with_one_line_naming_it(tmp_path: Path, content: str, problem: str):
    path = tmp_path / "alert.json"
    path.write_text(content)

    code, output = _simulate(str(path))

    assert code == 2
    assert output.count("\n") == 1
    assert output.startswith(f"error: {path}: ")
    assert problem in output
    assert "Traceback" not in output


def test_a_missing_file_exits_2(tmp_path: Path):
    code, output = _simulate(str(tmp_path / "nope.json"))

    assert code == 2
    assert output.strip() == f"error: {tmp_path / 'nope.json'}: no such file"


def test_an_eventbridge_event_goes_through_the_rules_whole():
    [delivery] = read_alerts(EVENTS / "guardduty_ec2_finding.json")

    assert delivery.via_rules is True
    assert delivery.event == load_event("guardduty_ec2_finding")


def test_a_webhook_body_becomes_one_direct_delivery_per_alert():
    body = load_event("alertmanager_v4_firing")

    deliveries = read_alerts(EVENTS / "alertmanager_v4_firing.json")

    assert len(deliveries) == len(body["alerts"]) > 1
    assert not any(d.via_rules for d in deliveries)


@pytest.fixture
def no_sandbox_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unusable files are refused before a sandbox starts: starting one fails the test."""

    def refuse(_decision: str) -> None:
        raise AssertionError("a sandbox was started for unusable files")

    monkeypatch.setattr(scenario, "sandbox_for", refuse)


@pytest.mark.parametrize("levels", [900, 5000])
def test_a_finding_nested_too_deeply_exits_2_with_one_line(
    tmp_path: Path, no_sandbox_start: None, levels: int
):
    finding = load_event("guardduty_ec2_finding")
    finding["detail"]["service"]["additionalInfo"] = "NESTED"
    path = tmp_path / "deep.json"
    # Written as text: json.dumps would recurse as deep as the file nests.
    path.write_text(json.dumps(finding).replace('"NESTED"', '{"a": ' * levels + "{}" + "}" * levels))

    code, output = _simulate(str(path))

    assert code == 2
    assert output.count("\n") == 1
    assert output.startswith(f"error: {path}: ")
    assert "nests objects or arrays over 32 levels deep" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("value", "problem"),
    [('"\\ud800"', "lone UTF-16 surrogate"), ("NaN", "NaN, Infinity"), ("1e400", "NaN, Infinity")],
    ids=["lone-surrogate", "nan", "beyond-a-double"],
)
def test_values_the_workflow_cannot_carry_exit_2_naming_the_field(
    tmp_path: Path, no_sandbox_start: None, value: str, problem: str
):
    finding = load_event("guardduty_ec2_finding")
    finding["detail"]["title"] = "VALUE"
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(finding).replace('"VALUE"', value))

    code, output = _simulate(str(path))

    assert code == 2
    assert output.count("\n") == 1
    assert output.startswith(f"error: {path}: ")
    assert problem in output
    assert output.rstrip().endswith("(at detail.title)")


def test_every_unusable_file_gets_its_own_line(tmp_path: Path, no_sandbox_start: None):
    bad_json, not_object = tmp_path / "a.json", tmp_path / "b.json"
    bad_json.write_text("{not json")
    not_object.write_text("[]")
    missing = tmp_path / "c.json"

    code, output = _simulate(str(bad_json), str(not_object), str(missing))

    assert code == 2
    assert output.splitlines() == [
        f"error: {bad_json}: invalid JSON at line 1 column 2: "
        "Expecting property name enclosed in double quotes",
        f"error: {not_object}: expected a JSON object, got list",
        f"error: {missing}: no such file",
    ]


@pytest.mark.parametrize("command", [["demo"], ["simulate", "examples/guardduty-ec2-finding.json"]])
def test_a_decision_with_the_page_open_is_refused_in_one_line(command, monkeypatch):
    ran: list[object] = []
    monkeypatch.setattr(simulate_cmd, "run_files", lambda *args, **options: ran.append(args))

    result = CliRunner().invoke(app, [*command, "--open", "--decision", "deny"])

    assert ran == []
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --decision: with --open a person decides on the page; leave --decision out"
    ]


def test_the_page_alone_runs_the_demo(monkeypatch):
    ran: list[object] = []
    monkeypatch.setattr(simulate_cmd, "run_files", lambda *args, **options: ran.append(options))

    result = CliRunner().invoke(app, ["demo", "--open"])

    assert result.exit_code == 0, result.output
    assert ran == [{"model": False, "open_page": True}]
