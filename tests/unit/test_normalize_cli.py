import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.helpers import EVENTS, load_event
from tourniquet.intake.model import Alert
from tourniquet_cli import normalize_cmd


@pytest.fixture
def run():
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The command group the command registers into."""

    normalize_cmd.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["normalize", *map(str, args)])


@pytest.mark.parametrize(
    "fixture", sorted(path.name for path in EVENTS.glob("*.json") if path.stem != "alertmanager_messy")
)
def test_every_fixture_normalizes_on_the_command_line(run, fixture):
    result = run(EVENTS / fixture, "--json")

    assert result.exit_code == 0, result.output
    assert result.output.strip()
    for line in result.output.splitlines():
        assert isinstance(json.loads(line), dict)


def test_json_prints_the_alerts_one_per_line(run):
    result = run(EVENTS / "grafana_unified_firing.json", "--json")

    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [Alert.model_validate(line).type for line in lines] == ["InstanceHighCPU", "HealthCheckFailing"]


def test_an_ignored_event_prints_its_reason(run):
    result = run(EVENTS / "cloudtrail_api_call.json", "--json")

    assert json.loads(result.output) == {
        "ignored": "CloudTrail record (AWS API Call via CloudTrail): an API call, not an alert"
    }


def test_a_resolution_prints_what_it_resolves(run):
    result = run(EVENTS / "cloudwatch_alarm_ok.json", "--json")

    assert json.loads(result.output)["resolved"]["reason"] == "alarm returned to OK"


def test_the_readable_form_shows_the_essentials(run):
    result = run(EVENTS / "guardduty_ec2_finding.json")

    assert result.exit_code == 0
    for text in (
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "HIGH (raw 8)",
        "AwsEc2Instance i-0a1b2c3d4e5f67890",
    ):
        assert text in result.output


def test_the_readable_form_flags_drills_ignored_events_and_resolutions(run):
    assert "drill" in run(EVENTS / "guardduty_sample_finding.json").output
    assert "ignored" in run(EVENTS / "config_item_change.json").output
    assert "resolved" in run(EVENTS / "grafana_unified_resolved.json").output


def test_an_unusable_input_prints_one_line_naming_the_field_and_exits_2(run):
    result = run(EVENTS / "alertmanager_messy.json", "--json")

    assert result.exit_code == 2
    assert result.output.splitlines() == ["error: alerts[1].labels.alertname: required field is missing"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{oops", "invalid JSON at line 1"),
        ('{"source": "aws.unknown"}', "source: unsupported event source"),
        ("[1, 2]", "event: expected a JSON object"),
    ],
)
def test_unreadable_files_exit_2_with_one_line(run, tmp_path: Path, content, message):
    path = tmp_path / "alert.json"
    if content is not None:
        path.write_text(content)

    result = run(path)

    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and message in result.output


def test_a_field_of_the_wrong_type_is_named(run, tmp_path: Path):
    event = load_event("cloudwatch_alarm_state_change")
    event["detail"]["alarmName"] = {"nested": True}
    path = tmp_path / "alarm.json"
    path.write_text(json.dumps(event))

    result = run(path)

    assert result.exit_code == 2
    assert result.output.splitlines() == ["error: detail.alarmName: expected a string, got dict"]
