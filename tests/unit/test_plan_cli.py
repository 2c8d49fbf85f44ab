"""`tourniquet plan`: for every saved alert, the rule that would start the workflow or the exact filter that
drops it, then what the workflow would do, offline."""

import json
from pathlib import Path

import pytest
from moto.events.models import EventPattern
from typer.testing import CliRunner

from stacks.config import load_config, project_context
from stacks.rules import route, rules
from tests.helpers import EVENTS, load_event
from tests.infra.calls import planned_calls
from tourniquet.containment.registry import ACTIONS
from tourniquet.incidents.keys import fold_keys
from tourniquet.intake.model import Alert
from tourniquet.playbooks.catalog import catalog, select
from tourniquet_cli.action_calls import all_actions, describe
from tourniquet_cli.main import app
from tourniquet_cli.plan_cmd import explain

CONFIG = load_config(project_context())
WEBHOOK = "webhook"
NO_RULE = "no rule"
# Each saved alert: the rule that matches it, the field of the filter that drops it, or how it arrives.
EXPECTED = {
    "alertmanager_messy": WEBHOOK,
    "alertmanager_v4_firing": WEBHOOK,
    "alertmanager_v4_resolved": WEBHOOK,
    "cloudtrail_api_call": NO_RULE,
    "cloudwatch_alarm_config_change": NO_RULE,
    "cloudwatch_alarm_lambda_action": WEBHOOK,
    "cloudwatch_alarm_ok": "detail.alarmName",
    "cloudwatch_alarm_sns": WEBHOOK,
    "cloudwatch_alarm_state_change": "detail.alarmName",
    "cloudwatch_composite_alarm": "detail.alarmName",
    "config_item_change": NO_RULE,
    "grafana_legacy_alerting": WEBHOOK,
    "grafana_legacy_ok": WEBHOOK,
    "grafana_test_notification": WEBHOOK,
    "grafana_unified_firing": WEBHOOK,
    "grafana_unified_resolved": WEBHOOK,
    "guardduty_attack_sequence": "GuardDutyFindings",
    "guardduty_container": "GuardDutyFindings",
    "guardduty_ec2_finding": "GuardDutyFindings",
    "guardduty_ecs_cluster": "GuardDutyFindings",
    "guardduty_eks_cluster": "GuardDutyFindings",
    "guardduty_get_findings": WEBHOOK,
    "guardduty_iam_access_key": "GuardDutyFindings",
    "guardduty_iam_instance_credentials": "GuardDutyFindings",
    "guardduty_lambda": "GuardDutyFindings",
    "guardduty_malware_scan_result": NO_RULE,
    # Its severity is the string "8.0": EventBridge compares numbers only with numbers.
    "guardduty_messy_finding": "detail.severity",
    "guardduty_rds": "GuardDutyFindings",
    "guardduty_s3_bucket": "GuardDutyFindings",
    "guardduty_sample_finding": "GuardDutyFindings",
    "securityhub_control_failed": "detail.findings.ProductName",
    "securityhub_control_passed": "detail.findings.ProductName",
    "securityhub_custom_action": "SecurityHubCustomAction",
    "securityhub_get_findings": WEBHOOK,
    "securityhub_guardduty_ec2": "detail.findings.ProductName",
    "securityhub_insight_results": NO_RULE,
    "securityhub_suppressed": "detail.findings.ProductName",
    "securityhub_v2_guardduty_ec2": "detail.findings.metadata.product.name",
    "securityhub_v2_resolved": "detail.findings.metadata.product.name",
}


def test_every_saved_alert_has_an_expectation():
    assert sorted(EXPECTED) == sorted(path.stem for path in EVENTS.glob("*.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plan_names_the_matching_rule_or_the_exact_filter_that_drops_the_alert(name):
    routed = explain(EVENTS / f"{name}.json", CONFIG)["route"]
    expected = EXPECTED[name]

    if expected == WEBHOOK:
        assert (routed["path"], routed["rule"]) == ("webhook", None)
    elif expected == NO_RULE:
        assert routed["rule"] is None and routed["filter"] is None
        assert routed["reason"].startswith("no enabled rule listens to source")
    elif "." in expected:
        assert routed["rule"] is None
        assert routed["filter"]["field"] == expected
        assert f"(config key {routed['filter']['config_key']})" in routed["reason"]
    else:
        assert routed["rule"] == expected
        assert routed["reason"] == f"matches the {expected} rule"


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e != WEBHOOK))
def test_the_offline_filters_agree_with_eventbridge_patterns(name):
    """moto evaluates EventBridge's pattern language: each rule's whole pattern matches as ours does."""
    event = load_event(name)
    for rule in rules(CONFIG):
        expected = EventPattern.load(json.dumps(rule.pattern())).matches_event(event)
        assert (rule.listens_to(event) and rule.first_mismatch(event) is None) == expected, rule.construct_id


def test_a_dropped_alarm_names_the_prefix_and_its_config_key():
    routed = explain(EVENTS / "cloudwatch_alarm_state_change.json", CONFIG)["route"]

    assert routed["reason"] == (
        "the CloudWatchAlarms rule takes only alarm name starting with security- (config key "
        "cloudwatch_alarm_prefixes); detail.alarmName is 'ec2-status-check-failed-web-app-1'"
    )
    widened = CONFIG.model_copy(update={"cloudwatch_alarm_prefixes": ("security-", "ec2-")})
    assert route(load_event("cloudwatch_alarm_state_change"), rules(widened)).rule == "CloudWatchAlarms"


def test_a_finding_below_the_severity_threshold_names_it():
    event = load_event("guardduty_ec2_finding")
    strict = CONFIG.model_copy(update={"guardduty_min_severity": 9.0})

    found = route(event, rules(strict))

    assert found.rule is None
    assert found.dropped_by is not None and found.dropped_by.key == "guardduty_min_severity"
    assert "severity at or above 9" in found.reason


def test_the_plan_shows_the_alert_its_keys_the_playbook_and_each_action_with_calls_and_undo():
    [planned] = explain(EVENTS / "guardduty_ec2_finding.json", CONFIG)["alerts"]

    assert planned["alert"]["type"] == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert planned["keys"]["dedup_key"]
    assert planned["playbook"]["id"] == "guardduty-ec2-instance"
    steps = {step["name"]: step for step in planned["actions"]}
    assert steps["isolate_network"]["mode"] == "auto"
    assert "ec2:ModifyNetworkInterfaceAttribute" in steps["isolate_network"]["calls"]
    assert steps["isolate_network"]["undo"] == ["ec2:ModifyNetworkInterfaceAttribute"]
    assert (steps["stop_instance"]["mode"], steps["stop_instance"]["undo"]) == (
        "approval",
        ["ec2:StartInstances"],
    )
    assert steps["snapshot_volumes"]["kept"] == "evidence snapshots are kept after release"
    assert steps["disassociate_eip"]["mode"] == "off"


def test_the_plan_gives_the_keys_the_deduplicate_step_folds_by():
    alerts = explain(EVENTS / "alertmanager_v4_firing.json", CONFIG)["alerts"]
    [guardduty] = explain(EVENTS / "guardduty_ec2_finding.json", CONFIG)["alerts"]

    for planned in alerts:
        found = Alert.model_validate(planned["alert"])
        folded = fold_keys(found, select(found, catalog()))
        assert planned["keys"] == {"dedup_key": folded.dedup, "correlation_key": folded.correlation}
    # The group's alerts correlate (one storm); a finding that came in no group correlates with nothing.
    assert alerts[0]["keys"]["correlation_key"] is not None
    assert guardduty["keys"]["correlation_key"] is None


def test_the_plan_applies_the_guardrails_of_the_plan_step():
    """Temporary role credentials: the user-only actions are dropped, as the Plan step drops them."""
    event = load_event("guardduty_iam_access_key")
    event["detail"]["resource"]["accessKeyDetails"]["userType"] = "AssumedRole"
    path = Path(__file__).parent / "assumed.json"
    try:
        path.write_text(json.dumps(event))
        [planned] = explain(path, CONFIG)["alerts"]
    finally:
        path.unlink()

    modes = {step["name"]: step["mode"] for step in planned["actions"]}
    assert modes["deactivate_access_key"] == "off"
    assert any("Temporary role credentials" in note for note in planned["notes"])


def test_plan_on_the_command_line_prints_one_json_object_per_file(tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + (EVENTS / "guardduty_ec2_finding.json").read_bytes())

    result = CliRunner().invoke(app, ["plan", "--json", str(bom), str(EVENTS / "cloudwatch_alarm_ok.json")])

    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["route"]["rule"] == "GuardDutyFindings" and first["alerts"]
    assert second["route"]["filter"]["config_key"] == "cloudwatch_alarm_prefixes"


def test_an_alert_the_intake_refuses_is_planned_as_refused():
    planned = explain(EVENTS / "alertmanager_messy.json", CONFIG)

    assert planned["refused"] == "alerts[1].labels.alertname: required field is missing"
    assert planned["alerts"] == []


def test_plan_refuses_an_unreadable_file_in_one_line_with_exit_code_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")

    result = CliRunner().invoke(app, ["plan", str(broken)])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {broken}: invalid JSON at line 1 column 2: Expecting property name enclosed in double "
        "quotes",
        "error: none of the 1 file(s) could be read",
    ]


def test_every_action_is_described_and_the_calls_found_are_every_call_containment_plans():
    described = all_actions()

    assert sorted(a.name for a in described) == sorted(ACTIONS)
    found = {call for action in described for call in (*action.changes, *action.undo)}
    assert found == planned_calls("containment")


def test_actions_say_what_release_undoes_and_what_it_keeps():
    assert describe("isolate_network").undoable
    assert not describe("snapshot_volumes").undoable
    assert describe("disable_console_login").kept
    assert describe("deactivate_access_key").target_type == "AwsIamAccessKey"
    assert "ec2:DescribeSecurityGroups" in describe("isolate_network").iam
