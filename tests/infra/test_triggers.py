"""The synthesized rule patterns against the bundled sample events: what starts the workflow and what not.

The matcher below covers the EventBridge pattern syntax the rules use (value lists, ``prefix``, ``suffix``
and ``numeric >=``), with arrays matching when one element does; Security Hub sends one finding per event.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import load_event
from tests.infra.cfn import Template, resources

RULES = (
    "GuardDutyFindings",
    "SecurityHubFindings",
    "SecurityHubOcsfFindings",
    "SecurityHubCustomAction",
    "CloudWatchAlarms",
)


def matches(pattern: Any, value: Any) -> bool:
    if isinstance(value, list):
        return any(matches(pattern, item) for item in value)
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches(sub, value[key]) for key, sub in pattern.items()
        )
    return any(_accepts(matcher, value) for matcher in pattern)


def _accepts(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict) and "prefix" in matcher:
        return isinstance(value, str) and value.startswith(matcher["prefix"])
    if isinstance(matcher, dict) and "suffix" in matcher:
        return isinstance(value, str) and value.endswith(matcher["suffix"])
    if isinstance(matcher, dict) and "numeric" in matcher:
        operator, bound = matcher["numeric"]
        assert operator == ">="
        return isinstance(value, int | float) and value >= bound
    return bool(matcher == value)


def started_by(template: Template, event: dict[str, Any]) -> set[str]:
    """The rules whose pattern ``event`` matches."""
    found = set()
    for lid, rule in resources(template, "AWS::Events::Rule").items():
        (name,) = [name for name in RULES if lid.startswith(name)]
        if matches(rule["Properties"]["EventPattern"], event):
            found.add(name)
    return found


def with_detail(event: dict[str, Any], **detail: Any) -> dict[str, Any]:
    return {**event, "detail": {**event["detail"], **detail}}


def test_the_matcher_agrees_with_eventbridge_on_the_basics() -> None:
    assert matches({"a": ["x"]}, {"a": "x", "b": 1})
    assert not matches({"a": ["x"]}, {"b": "x"})
    assert matches({"a": {"b": [{"prefix": "se"}]}}, {"a": [{"b": "zz"}, {"b": "sec"}]})
    assert not matches({"n": [{"numeric": [">=", 4]}]}, {"n": 3.9})


def test_guardduty_findings_at_or_above_the_threshold(template: Template, variant_template: Template) -> None:
    finding = load_event("guardduty_ec2_finding")
    assert finding["detail"]["severity"] == 8
    assert started_by(template, finding) == {"GuardDutyFindings"}
    assert started_by(template, with_detail(finding, severity=3.9)) == set()
    # The variant's threshold is 7.
    assert started_by(variant_template, with_detail(finding, severity=6.9)) == set()
    assert started_by(variant_template, finding) == {"GuardDutyFindings"}


def test_security_hub_findings_of_the_configured_products_and_severities(
    template: Template, variant_template: Template
) -> None:
    control = load_event("securityhub_control_failed")  # product "Security Hub", CRITICAL, NEW
    assert started_by(template, control) == set()
    assert started_by(variant_template, control) == {"SecurityHubFindings"}
    (finding,) = control["detail"]["findings"]
    high = {**finding, "Severity": {**finding["Severity"], "Label": "HIGH"}}
    # The variant starts at CRITICAL.
    assert started_by(variant_template, with_detail(control, findings=[high])) == set()


@pytest.mark.parametrize(
    "name",
    [
        "securityhub_control_passed",  # resolved
        "securityhub_suppressed",  # someone decided already
        "securityhub_guardduty_ec2",  # GuardDuty findings come through their own rule
    ],
)
def test_security_hub_findings_that_never_start_the_workflow(
    template: Template, variant_template: Template, name: str
) -> None:
    event = load_event(name)
    assert started_by(template, event) == set()
    assert started_by(variant_template, event) == set()


def test_alarms_with_a_configured_prefix_going_into_alarm_and_back_to_ok(template: Template) -> None:
    alarm = load_event("cloudwatch_alarm_state_change")
    assert started_by(template, alarm) == set()  # its name has no configured prefix
    selected = with_detail(alarm, alarmName="security-ssh-brute-force")
    assert started_by(template, selected) == {"CloudWatchAlarms"}
    back_to_ok = with_detail(load_event("cloudwatch_alarm_ok"), alarmName="security-ssh-brute-force")
    assert back_to_ok["detail"]["state"]["value"] == "OK"
    assert started_by(template, back_to_ok) == {"CloudWatchAlarms"}  # it resolves the incident
    no_data = with_detail(back_to_ok, state={"value": "INSUFFICIENT_DATA"})
    assert started_by(template, no_data) == set()


def test_tourniquets_own_alarms_never_start_the_workflow(
    template: Template, variant_template: Template
) -> None:
    alarm = with_detail(load_event("cloudwatch_alarm_state_change"), alarmName="Tourniquet-ContainErrors")
    assert started_by(template, alarm) == set()
    assert started_by(variant_template, alarm) == set()


def test_no_rule_in_the_minimal_config_but_guardduty(minimal_template: Template) -> None:
    control = load_event("securityhub_control_failed")
    alarm = with_detail(load_event("cloudwatch_alarm_state_change"), alarmName="security-ssh-brute-force")
    assert started_by(minimal_template, control) == set()
    assert started_by(minimal_template, alarm) == set()
    assert started_by(minimal_template, load_event("guardduty_ec2_finding")) == {"GuardDutyFindings"}


def test_new_security_hub_findings_of_the_configured_products_severities_and_statuses(
    template: Template, variant_template: Template
) -> None:
    finding = load_event("securityhub_v2_guardduty_ec2")  # GuardDuty, High (4), New
    (ocsf,) = finding["detail"]["findings"]
    # GuardDuty is not among the default products; the variant lists it and starts at Critical (5).
    assert started_by(template, finding) == set()
    assert started_by(variant_template, finding) == set()
    critical = with_detail(finding, findings=[{**ocsf, "severity_id": 5}])
    assert started_by(variant_template, critical) == {"SecurityHubOcsfFindings"}
    inspector = {**ocsf, "metadata": {**ocsf["metadata"], "product": {"name": "Inspector"}}}
    assert started_by(template, with_detail(finding, findings=[inspector])) == {"SecurityHubOcsfFindings"}
    for status_id in (3, 4, 5):  # suppressed, resolved, archived: someone decided already
        closed = with_detail(finding, findings=[{**inspector, "status_id": status_id}])
        assert started_by(template, closed) == set()


def test_only_tourniquets_own_custom_action_starts_the_workflow(
    template: Template, variant_template: Template
) -> None:
    click = load_event("securityhub_custom_action")  # in eu-west-1
    ours = {
        **click,
        "resources": ["arn:aws:securityhub:us-east-1:123456789012:action/custom/SendToTourniquet"],
    }
    theirs = {**click, "resources": ["arn:aws:securityhub:eu-west-1:123456789012:action/custom/SendToJira"]}
    assert started_by(template, click) == {"SecurityHubCustomAction"}
    assert started_by(template, ours) == {"SecurityHubCustomAction"}
    assert started_by(template, theirs) == set()
    # The variant names its own action.
    assert started_by(variant_template, ours) == set()
