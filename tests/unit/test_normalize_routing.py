"""Which parser a raw event reaches, what is ignored, and what the NormalizeAlert state returns."""

import json
from types import SimpleNamespace

import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake import handler
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import as_state, normalize, normalize_all, normalize_part, parts
from tourniquet.state import Ignored, Resolved

CONTEXT = SimpleNamespace(
    function_name="tourniquet-normalize",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-normalize",
    aws_request_id="00000000-0000-0000-0000-000000000002",
)


def _sns(*messages: dict) -> dict:
    return {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": json.dumps(message)}}
            for message in messages
        ]
    }


@pytest.mark.parametrize(
    ("fixture", "source", "reason"),
    [
        ("cloudtrail_api_call", "cloudtrail", "an API call, not an alert"),
        ("config_item_change", "config", "a configuration record"),
        ("guardduty_malware_scan_result", "guardduty", "malware scan result"),
        ("securityhub_insight_results", "securityhub", "insight results"),
        ("cloudwatch_alarm_config_change", "cloudwatch", "configuration change"),
        ("securityhub_suppressed", "securityhub", "suppressed"),
    ],
)
def test_events_that_are_not_alerts_are_ignored_with_a_stated_reason(fixture, source, reason):
    result = normalize(load_event(fixture))

    assert isinstance(result, Ignored)
    assert result.source == source
    assert reason in result.reason


def test_other_detail_types_of_known_sources_are_ignored_naming_them():
    event = load_event("guardduty_ec2_finding") | {"detail-type": "GuardDuty Runtime Protection Unhealthy"}

    result = normalize(event)

    assert isinstance(result, Ignored) and "GuardDuty Runtime Protection Unhealthy" in result.reason


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (["not", "an", "event"], "event"),
        ("a string", "event"),
        ({"source": "aws.health", "detail-type": "AWS Health Event"}, "source"),
        ({"hello": "world"}, "source"),
        ({"source": "tourniquet.webhook", "detail": {"webhook": "nagios", "payload": {}}}, "detail.webhook"),
        ({"source": "tourniquet.webhook", "detail": {"webhook": "grafana"}}, "detail.payload"),
        ({"Records": []}, "Records"),
        ({"Records": [{"eventSource": "aws:kinesis"}]}, "Records[0]"),
        ({"Findings": "none"}, "Findings"),
    ],
)
def test_unusable_events_are_rejected_naming_the_field(event, field):
    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_message_nested_beyond_the_recursion_limit_is_rejected_not_crashed():
    deep = "[" * 100_000 + "]" * 100_000
    event = {"Records": [{"Sns": {"Message": deep}}]}

    with pytest.raises(InvalidAlert, match="nested too deeply"):
        normalize(event)


def test_eventbridge_events_delivered_through_sns_normalize_like_the_originals():
    direct = normalize(load_event("guardduty_ec2_finding"))

    wrapped = normalize(_sns(load_event("guardduty_ec2_finding")))

    assert wrapped == direct


def test_each_part_of_a_delivery_carries_only_its_own_alert():
    delivery = _sns(load_event("guardduty_ec2_finding"), load_event("securityhub_custom_action"))

    found = parts(delivery)

    assert [p.path for p in found] == [
        "Records[0].Sns.Message",
        "Records[1].Sns.Message.detail.findings[0]",
        "Records[1].Sns.Message.detail.findings[1]",
    ]
    for part in found:
        assert normalize(part.event) == normalize_part(part)
    assert all(len(p.event["detail"]["findings"]) == 1 for p in found[1:])


def test_normalize_all_keeps_the_delivery_order():
    outcomes = normalize_all(_sns(load_event("cloudwatch_alarm_ok"), load_event("guardduty_ec2_finding")))

    assert [type(o) for o in outcomes] == [Resolved, Alert]


def test_state_for_each_outcome():
    alert = normalize(load_event("guardduty_ec2_finding"))
    ignored = normalize(load_event("cloudtrail_api_call"))
    resolved = normalize(load_event("cloudwatch_alarm_ok"))
    assert isinstance(alert, Alert) and isinstance(resolved, Resolved)

    assert as_state(alert) == {"outcome": "alert", "alert": alert.model_dump(mode="json")}
    assert as_state(ignored) == {"outcome": "ignored", "source": "cloudtrail", "reason": ignored.reason}
    assert as_state(resolved) == {
        "outcome": "resolved",
        "source": "cloudwatch",
        "dedup_key": resolved.dedup_key,
        "finding_id": resolved.finding_id,
        "title": "ec2-status-check-failed-web-app-1",
        "reason": "alarm returned to OK",
        "time": "2026-11-20T09:41:04.602Z",
    }


@pytest.mark.parametrize(
    ("fixture", "outcome"),
    [
        ("guardduty_ec2_finding", "alert"),
        ("cloudtrail_api_call", "ignored"),
        ("cloudwatch_alarm_ok", "resolved"),
    ],
)
def test_normalize_state_returns_the_outcome_the_workflow_branches_on(fixture, outcome):
    result = handler.normalize({"event": load_event(fixture)}, CONTEXT)

    assert result["outcome"] == outcome
    json.dumps(result)  # the state is JSON


def test_normalize_state_raises_invalid_alert_for_unusable_input():
    with pytest.raises(InvalidAlert):
        handler.normalize({"event": {"source": "aws.unknown"}}, CONTEXT)


def test_normalized_alert_fits_the_workflow_state_as_is():
    result = handler.normalize({"event": load_event("guardduty_container")}, CONTEXT)

    assert Alert.model_validate(result["alert"]) == normalize(load_event("guardduty_container"))
