import json

import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import UNKNOWN, Alert, Severity
from tourniquet.intake.normalize import normalize
from tourniquet.state import Ignored, Resolved

ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:ec2-status-check-failed-web-app-1"


def _alert(event: dict) -> Alert:
    result = normalize(event)
    assert isinstance(result, Alert)
    return result


def _sns_message(event: dict) -> dict:
    return json.loads(event["Records"][0]["Sns"]["Message"])


def _as_sns(message: dict) -> dict:
    event = load_event("cloudwatch_alarm_sns")
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def test_state_change_to_alarm_is_an_alert_on_the_instance():
    alert = _alert(load_event("cloudwatch_alarm_state_change"))

    assert (alert.source, alert.product, alert.type) == (
        "cloudwatch",
        "CloudWatch",
        "ec2-status-check-failed-web-app-1",
    )
    assert alert.category == "AWS/EC2"
    assert (alert.severity, alert.severity_raw) == (
        Severity.HIGH,
        "high",
    )  # "severity: high" in the description
    assert [(r.type, r.id) for r in alert.resources] == [
        ("AwsEc2Instance", "i-0a1b2c3d4e5f67890"),
        ("AwsCloudWatchAlarm", "ec2-status-check-failed-web-app-1"),
    ]
    assert alert.time == "2026-11-20T09:22:41.125Z"
    assert alert.finding_id == f"{ALARM_ARN}#2026-11-20T09:22:41.125Z"
    assert alert.raw_ref == ALARM_ARN
    assert alert.labels["InstanceId"] == "i-0a1b2c3d4e5f67890"
    assert "Threshold Crossed" in alert.description


def test_ok_resolves_the_incident_the_alarm_opened():
    alarm = _alert(load_event("cloudwatch_alarm_state_change"))
    recovered = normalize(load_event("cloudwatch_alarm_ok"))

    assert isinstance(recovered, Resolved)
    assert recovered.dedup_key == alarm.dedup_key
    assert recovered.time == "2026-11-20T09:41:04.602Z"


def test_insufficient_data_opens_nothing():
    event = load_event("cloudwatch_alarm_state_change")
    event["detail"]["state"]["value"] = "INSUFFICIENT_DATA"

    result = normalize(event)

    assert isinstance(result, Ignored) and "insufficient data" in result.reason


def test_configuration_change_is_ignored():
    result = normalize(load_event("cloudwatch_alarm_config_change"))

    assert isinstance(result, Ignored) and "configuration change" in result.reason


def test_sns_wrapped_alarm_is_an_alert_in_the_region_of_its_arn():
    alert = _alert(load_event("cloudwatch_alarm_sns"))

    assert alert.type == "api_rate_spike-orders-api"
    assert alert.region == "eu-west-1"  # the message says "EU (Ireland)"
    assert alert.category == "AWS/ApiGateway"
    assert (alert.severity, alert.severity_raw) == (Severity.MEDIUM, "warning")
    assert alert.primary_resource is not None
    assert (alert.primary_resource.type, alert.primary_resource.id) == ("AwsApiGatewayRestApi", "orders-api")
    assert alert.labels["Stage"] == "prod"
    assert alert.time == "2026-11-20T09:15:02.311Z"


def test_the_same_state_change_by_eventbridge_and_by_sns_is_one_problem_and_one_occurrence():
    event = load_event("cloudwatch_alarm_state_change")
    detail = event["detail"]
    message = _sns_message(load_event("cloudwatch_alarm_sns")) | {
        "AlarmName": detail["alarmName"],
        "AlarmArn": ALARM_ARN,
        "NewStateValue": "ALARM",
        "StateChangeTime": detail["state"]["timestamp"],
    }

    direct, wrapped = _alert(event), _alert(_as_sns(message))

    assert (wrapped.dedup_key, wrapped.finding_id) == (direct.dedup_key, direct.finding_id)


def test_sns_ok_resolves():
    message = _sns_message(load_event("cloudwatch_alarm_sns")) | {
        "NewStateValue": "OK",
        "OldStateValue": "ALARM",
    }

    result = normalize(_as_sns(message))

    assert isinstance(result, Resolved)
    assert result.dedup_key == _alert(load_event("cloudwatch_alarm_sns")).dedup_key


def test_bare_sns_notification_and_sqs_record_are_unwrapped():
    record = load_event("cloudwatch_alarm_sns")["Records"][0]["Sns"]
    expected = _alert(load_event("cloudwatch_alarm_sns"))
    sqs = {"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": json.dumps(record)}]}

    assert _alert(record).dedup_key == expected.dedup_key
    assert _alert(sqs).dedup_key == expected.dedup_key


def test_lambda_alarm_action_is_an_alert_on_the_function():
    alert = _alert(load_event("cloudwatch_alarm_lambda_action"))

    assert alert.type == "throttles-image-resizer"
    assert alert.primary_resource is not None
    assert (alert.primary_resource.type, alert.primary_resource.id) == ("AwsLambdaFunction", "image-resizer")
    assert (alert.account, alert.region) == ("123456789012", "eu-west-1")
    assert (alert.severity, alert.severity_raw) == (Severity.MEDIUM, "")


def test_composite_alarm_is_categorized_and_keeps_its_severity_hint():
    alert = _alert(load_event("cloudwatch_composite_alarm"))

    assert alert.category == "Composite"
    assert alert.severity is Severity.CRITICAL
    assert [r.type for r in alert.resources] == ["AwsCloudWatchAlarm"]


def test_alarm_without_arn_or_account_is_accepted_with_unknowns():
    message = _sns_message(load_event("cloudwatch_alarm_sns"))
    for key in ("AlarmArn", "AWSAccountId"):
        message.pop(key)

    alert = _alert(_as_sns(message))

    assert (alert.account, alert.region) == (UNKNOWN, UNKNOWN)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"].pop("alarmName"), "detail.alarmName"),
        (lambda e: e["detail"]["state"].__setitem__("value", "BROKEN"), "detail.state.value"),
        (lambda e: e.__setitem__("detail", None), "detail"),
    ],
)
def test_unusable_state_change_is_rejected_naming_the_field(mutate, field):
    event = load_event("cloudwatch_alarm_state_change")
    mutate(event)

    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == field


def test_sns_message_that_is_not_json_is_rejected_naming_the_field():
    event = load_event("cloudwatch_alarm_sns")
    event["Records"][0]["Sns"]["Message"] = "ALARM: disk almost full"

    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == "Records[0].Sns.Message"
