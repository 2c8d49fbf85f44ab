"""CloudWatch alarms in their three delivery forms: the EventBridge "CloudWatch Alarm State Change" event, the
SNS notification an alarm action publishes, and the event an alarm's Lambda action receives.

ALARM opens (or folds into) an incident, OK resolves it, INSUFFICIENT_DATA is neither. The alarm is the
problem's identity: the same alarm delivered by EventBridge and by SNS has one dedup key, and each state
change has one finding id (the alarm and the moment it changed), so a re-delivery folds even after the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tourniquet.intake.common import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Outcome,
    build,
    clip,
    dedup_key,
    first,
    from_label,
    invalid,
    join,
    labels,
    obj,
    optional_time,
    parse_arn,
    scalar,
    seq,
    text,
    time_or_now,
)
from tourniquet.intake.model import UNKNOWN, Resource, Severity
from tourniquet.state import Ignored, Resolved

# Metric dimensions that name a resource, as ASFF resource types.
_DIMENSIONS = {
    "InstanceId": "AwsEc2Instance",
    "AutoScalingGroupName": "AwsAutoScalingAutoScalingGroup",
    "FunctionName": "AwsLambdaFunction",
    "DBInstanceIdentifier": "AwsRdsDbInstance",
    "DBClusterIdentifier": "AwsRdsDbCluster",
    "LoadBalancer": "AwsElbv2LoadBalancer",
    "LoadBalancerName": "AwsElbLoadBalancer",
    "TableName": "AwsDynamoDbTable",
    "QueueName": "AwsSqsQueue",
    "BucketName": "AwsS3Bucket",
    "ApiName": "AwsApiGatewayRestApi",
    "ApiId": "AwsApiGatewayV2Api",
    "StateMachineArn": "AwsStepFunctionStateMachine",
    "TopicName": "AwsSnsTopic",
    "VolumeId": "AwsEc2Volume",
    "NatGatewayId": "AwsEc2NatGateway",
}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# Alarms carry no severity; teams write one into the description ("severity: critical").
_SEVERITY_HINT = re.compile(r"\bseverity\s*[:=]\s*\"?([A-Za-z0-9-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Change:
    """One alarm state change, whichever form delivered it."""

    name: str
    arn: str | None
    account: str
    region: str
    value: str
    value_field: str
    reason: str
    timestamp: Any
    description: str
    namespace: str | None
    metric: str | None
    dimensions: dict[str, str]
    composite: bool


def from_event(event: dict[str, Any], at: str = "") -> Outcome:
    """The EventBridge "CloudWatch Alarm State Change" event."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise invalid(join(at, "detail"), "expected the alarm state change object")
    arn = first(*seq(event.get("resources")))
    return _outcome(
        _from_detail(detail, join(at, "detail"), arn, first(event.get("account")), first(event.get("region")))
    )


def from_alarm_action(event: dict[str, Any], at: str = "") -> Outcome:
    """The event CloudWatch sends to a Lambda alarm action."""
    data = event.get("alarmData")
    if not isinstance(data, dict):
        raise invalid(join(at, "alarmData"), "expected the alarm data object")
    return _outcome(
        _from_detail(
            data,
            join(at, "alarmData"),
            first(event.get("alarmArn")),
            first(event.get("accountId")),
            first(event.get("region")),
        )
    )


def from_sns_message(message: dict[str, Any], at: str = "") -> Outcome:
    """The JSON message an alarm's SNS action publishes (``AlarmName``, ``NewStateValue``, ``Trigger``…)."""
    arn = first(message.get("AlarmArn"))
    trigger = obj(message.get("Trigger"))
    stats = [trigger, *(obj(obj(m).get("MetricStat")).get("Metric") for m in seq(trigger.get("Metrics")))]
    dimensions: dict[str, str] = {}
    for stat in (obj(s) for s in stats):
        for dimension in (obj(d) for d in seq(stat.get("Dimensions"))):
            name, value = scalar(dimension.get("name")), scalar(dimension.get("value"))
            if name and value:
                dimensions[name] = value
    metric = next((obj(s) for s in stats if obj(s).get("MetricName")), {})
    return _outcome(
        _Change(
            name=text(message.get("AlarmName"), join(at, "AlarmName")),
            arn=arn,
            account=_account(first(message.get("AWSAccountId")), arn),
            region=_region(first(message.get("Region")), arn),
            value=text(message.get("NewStateValue"), join(at, "NewStateValue")).upper(),
            value_field=join(at, "NewStateValue"),
            reason=scalar(message.get("NewStateReason"), DESCRIPTION_LIMIT) or "",
            timestamp=message.get("StateChangeTime"),
            description=scalar(message.get("AlarmDescription"), DESCRIPTION_LIMIT) or "",
            namespace=first(metric.get("Namespace")),
            metric=first(metric.get("MetricName")),
            dimensions=dimensions,
            composite="AlarmRule" in message,
        )
    )


def _from_detail(
    detail: dict[str, Any], at: str, arn: str | None, account: str | None, region: str | None
) -> _Change:
    state = obj(detail.get("state"))
    configuration = obj(detail.get("configuration"))
    metrics = [
        obj(obj(obj(entry).get("metricStat")).get("metric")) for entry in seq(configuration.get("metrics"))
    ]
    dimensions: dict[str, str] = {}
    for metric in metrics:
        dimensions.update(labels(obj(metric.get("dimensions"))))
    named = next((metric for metric in metrics if metric.get("name")), {})
    return _Change(
        name=text(detail.get("alarmName"), join(at, "alarmName")),
        arn=arn,
        account=_account(account, arn),
        region=_region(region, arn),
        value=text(state.get("value"), join(at, "state.value")).upper(),
        value_field=join(at, "state.value"),
        reason=scalar(state.get("reason"), DESCRIPTION_LIMIT) or "",
        timestamp=state.get("timestamp"),
        description=scalar(configuration.get("description"), DESCRIPTION_LIMIT) or "",
        namespace=first(named.get("namespace")),
        metric=first(named.get("name")),
        dimensions=dimensions,
        composite="alarmRule" in configuration,
    )


def _account(account: str | None, arn: str | None) -> str:
    parsed = parse_arn(arn)
    return account or (parsed.account if parsed and parsed.account else UNKNOWN)


def _region(region: str | None, arn: str | None) -> str:
    """The Region code: the ARN's, else the one given if it is a code (SNS messages give a display name)."""
    parsed = parse_arn(arn)
    if parsed and _REGION.match(parsed.region):
        return parsed.region
    return region if region and _REGION.match(region) else UNKNOWN


def _severity(description: str) -> tuple[Severity, str]:
    hint = _SEVERITY_HINT.search(description)
    if hint is None:
        return Severity.MEDIUM, ""
    return from_label(hint.group(1)) or Severity.MEDIUM, hint.group(1)


def _outcome(change: _Change) -> Outcome:
    key = dedup_key(change.account, change.region, change.name, change.name)
    changed_at = optional_time(change.timestamp)
    finding_id = f"{change.arn or change.name}#{changed_at}" if changed_at else change.arn or change.name
    if change.value == "INSUFFICIENT_DATA":
        return Ignored(
            source="cloudwatch",
            reason="insufficient data: the alarm can tell neither a breach nor a recovery",
        )
    if change.value == "OK":
        return Resolved(
            source="cloudwatch",
            dedup_key=key,
            finding_id=finding_id,
            title=change.name,
            reason="alarm returned to OK",
            time=changed_at or time_or_now(),
        )
    if change.value != "ALARM":
        raise invalid(change.value_field, "expected ALARM, OK or INSUFFICIENT_DATA")

    level, raw = _severity(change.description)
    resources = [
        Resource(type=_DIMENSIONS[name], id=value, region=change.region)
        for name, value in change.dimensions.items()
        if name in _DIMENSIONS
    ]
    resources.append(
        Resource(type="AwsCloudWatchAlarm", id=change.name, arn=change.arn, region=change.region)
    )
    found = {"namespace": change.namespace, "metric": change.metric, **change.dimensions}
    return build(
        source="cloudwatch",
        product="CloudWatch",
        finding_id=finding_id,
        type=change.name,
        category="Composite" if change.composite else change.namespace or "CloudWatch",
        severity=level,
        severity_raw=raw,
        title=clip(f"{change.name} is in ALARM", TITLE_LIMIT),
        description=clip(" ".join(p for p in (change.description, change.reason) if p), DESCRIPTION_LIMIT),
        account=change.account,
        region=change.region,
        time=changed_at or time_or_now(),
        resources=tuple(resources),
        dedup_key=key,
        raw_ref=change.arn,
        labels=labels({k: v for k, v in found.items() if v}),
    )
