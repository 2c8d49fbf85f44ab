"""Turn any supported raw event into alerts, resolutions, or the reason it is ignored.

A delivery can carry several alerts (a webhook group, a Security Hub event, an SNS batch, GetFindings output).
:func:`parts` splits it into one :class:`Part` per alert, each with a raw event that carries only that alert;
:func:`normalize` takes exactly one alert (the NormalizeAlert state gets one per execution) and
:func:`normalize_all` a whole delivery. Unusable input raises :class:`InvalidAlert` naming the field; input
that is understood but is not an alert becomes :class:`Ignored` with its reason.

Supported: GuardDuty (EventBridge and GetFindings), Security Hub CSPM (ASFF: Imported, Custom Action,
GetFindings), the new Security Hub (OCSF: Findings Imported V2),
CloudWatch alarms (EventBridge, SNS, Lambda alarm action), Grafana (unified and legacy) and Alertmanager
webhooks, SNS and SQS records wrapping any of them, and the webhook intake's own envelope.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from tourniquet.intake import alertmanager, cloudwatch, grafana, guardduty, ocsf, securityhub
from tourniquet.intake.alertmanager import WebhookSource
from tourniquet.intake.common import Outcome, Part, invalid, join, obj, scalar, seq
from tourniquet.intake.model import Alert
from tourniquet.state import Ignored

T = TypeVar("T")

GUARDDUTY_FINDING = "GuardDuty Finding"
SECURITY_HUB_IMPORTED = "Security Hub Findings - Imported"
SECURITY_HUB_CUSTOM_ACTION = "Security Hub Findings - Custom Action"
SECURITY_HUB_IMPORTED_V2 = "Findings Imported V2"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
WEBHOOK_SOURCE = "tourniquet.webhook"
WEBHOOK_DETAIL_TYPE = "Webhook Alert"
ASFF_VERSION = "2018-10-08"


def normalize(event: Any) -> Outcome:
    """The one alert ``event`` carries (or why it is ignored); a delivery of several alerts is rejected."""
    found = _guarded(lambda: parts(event))
    if len(found) != 1:
        container = found[0].path.rsplit("[", 1)[0] or "event"
        raise invalid(
            container,
            f"carries {len(found)} alerts; each execution takes one (the intake dispatcher splits them)",
        )
    return normalize_part(found[0])


def normalize_all(event: Any) -> list[Outcome]:
    """Every alert ``event`` carries, in order; the first unusable one raises."""
    return [normalize_part(part) for part in _guarded(lambda: parts(event))]


def normalize_part(part: Part) -> Outcome:
    return _guarded(part.parse)


def as_state(outcome: Outcome) -> dict[str, Any]:
    """The NormalizeAlert result: ``outcome`` is ``alert``, ``ignored`` or ``resolved``."""
    if isinstance(outcome, Alert):
        return {"outcome": "alert", "alert": outcome.model_dump(mode="json")}
    if isinstance(outcome, Ignored):
        return {"outcome": "ignored", **outcome.as_state()}
    return {"outcome": "resolved", **outcome.as_state()}


def webhook_event(source: WebhookSource, payload: dict[str, Any]) -> dict[str, Any]:
    """The raw event a webhook delivery becomes: it names its format, which the payload alone cannot."""
    return {
        "source": WEBHOOK_SOURCE,
        "detail-type": WEBHOOK_DETAIL_TYPE,
        "detail": {"webhook": source, "payload": payload},
    }


def webhook_parts(source: WebhookSource, payload: Any) -> list[Part]:
    """The alerts of a webhook body; errors name the body's own fields (``alerts[2].labels.alertname``)."""
    if not isinstance(payload, dict):
        raise invalid("body", f"expected a JSON object, got {type(payload).__name__}")
    found = grafana.parts(payload, "") if source == "grafana" else alertmanager.parts(payload, "", source)
    return [Part(part.path, webhook_event(source, part.event), part.parse) for part in found]


def webhook_alert_count(payload: Any) -> int:
    """How many parts :func:`webhook_parts` makes of ``payload``, counted without reading them: one per entry
    of its alerts list (Alertmanager, Grafana's unified alerting), else one (Grafana's legacy alerting)."""
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    return len(alerts) if isinstance(alerts, list) else 1


def parts(event: Any, at: str = "") -> list[Part]:
    """The alerts of a delivery, in order. Never empty: a delivery without any alert is unusable."""
    if not isinstance(event, dict):
        raise invalid(at or "event", f"expected a JSON object, got {type(event).__name__}")
    for recognizes, split in _SHAPES:
        if recognizes(event):
            return split(event, at)
    raise invalid(
        join(at, "source"),
        "unrecognized event: expected an EventBridge event, SNS or SQS records, GetFindings output, "
        "a Grafana or Alertmanager webhook, or a CloudWatch alarm",
    )


def _guarded(step: Callable[[], T]) -> T:
    """Runs a parsing step; a payload nested beyond Python's recursion limit is unusable, not a crash."""
    try:
        return step()
    except RecursionError as exc:
        raise invalid("event", "nested too deeply") from exc


def _one(event: dict[str, Any], at: str, parse: Callable[[], Outcome]) -> Part:
    return Part(path=at, event=event, parse=parse)


def _ignored(event: dict[str, Any], at: str, source: str, reason: str) -> list[Part]:
    return [_one(event, at, lambda: Ignored(source=source, reason=reason))]


def _eventbridge(event: dict[str, Any], at: str) -> list[Part]:
    source = str(event.get("source"))
    detail_type = scalar(event.get("detail-type")) or ""
    if detail_type.endswith("via CloudTrail"):
        return _ignored(
            event, at, "cloudtrail", f"CloudTrail record ({detail_type}): an API call, not an alert"
        )
    split = _SOURCES.get(source)
    if split is None:
        raise invalid(
            join(at, "source"), f"unsupported event source {source!r} (detail-type {detail_type!r})"
        )
    return split(event, detail_type, at)


def _guardduty(event: dict[str, Any], detail_type: str, at: str) -> list[Part]:
    if detail_type != GUARDDUTY_FINDING:
        return _ignored(event, at, "guardduty", _guardduty_reason(detail_type))
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise invalid(join(at, "detail"), "expected the GuardDuty finding object")
    account, region = scalar(event.get("account")), scalar(event.get("region"))
    parse = functools.partial(
        guardduty.parse_finding, detail, at=join(at, "detail"), account=account, region=region
    )
    return [_one(event, at, parse)]


def _cloudwatch(event: dict[str, Any], detail_type: str, at: str) -> list[Part]:
    if "alarmData" in event:
        return [_one(event, at, functools.partial(cloudwatch.from_alarm_action, event, at))]
    if detail_type == ALARM_STATE_CHANGE:
        return [_one(event, at, functools.partial(cloudwatch.from_event, event, at))]
    reason = (
        "alarm configuration change: not a state change"
        if detail_type == "CloudWatch Alarm Configuration Change"
        else f"not an alarm state change: detail-type {detail_type!r}"
    )
    return _ignored(event, at, "cloudwatch", reason)


def _config(event: dict[str, Any], detail_type: str, at: str) -> list[Part]:
    reason = f"{detail_type or 'AWS Config event'}: a configuration record, not an alert"
    return _ignored(event, at, "config", reason)


def _guardduty_reason(detail_type: str) -> str:
    if "Malware Protection" in detail_type:
        return f"malware scan result ({detail_type}): a scan that finds malware raises its own finding"
    return f"not a finding: detail-type {detail_type!r}"


def _security_hub_reason(detail_type: str) -> str:
    if detail_type == "Security Hub Insight Results":
        return "insight results: a summary of findings, not a finding"
    return f"not a findings event: detail-type {detail_type!r}"


def _security_hub(event: dict[str, Any], detail_type: str, at: str) -> list[Part]:
    if detail_type not in (SECURITY_HUB_IMPORTED, SECURITY_HUB_CUSTOM_ACTION, SECURITY_HUB_IMPORTED_V2):
        return _ignored(event, at, "securityhub", _security_hub_reason(detail_type))
    account, region = scalar(event.get("account")), scalar(event.get("region"))
    detail = obj(event.get("detail"))
    findings = detail.get("findings")
    where = join(at, "detail.findings")
    if not isinstance(findings, list) or not findings:
        raise invalid(where, "expected a non-empty list of findings")
    action = (
        scalar(detail.get("actionName")) if event.get("detail-type") == SECURITY_HUB_CUSTOM_ACTION else None
    )
    parser = (
        functools.partial(ocsf.parse_finding)
        if detail_type == SECURITY_HUB_IMPORTED_V2
        else functools.partial(securityhub.parse_finding, custom_action=action)
    )
    return [
        Part(
            path=join(where, f"[{index}]"),
            event={**event, "detail": {**detail, "findings": [finding]}},
            parse=functools.partial(
                parser, finding, at=join(where, f"[{index}]"), account=account, region=region
            ),
        )
        for index, finding in enumerate(findings)
    ]


def _is_asff(item: Any) -> bool:
    return isinstance(item, dict) and ("ProductArn" in item or item.get("SchemaVersion") == ASFF_VERSION)


def _findings(event: dict[str, Any], at: str) -> list[Part]:
    findings = event.get("Findings")
    where = join(at, "Findings")
    if not isinstance(findings, list) or not findings:
        raise invalid(where, "expected a non-empty list of findings")
    found = []
    for index, finding in enumerate(findings):
        path = join(where, f"[{index}]")
        parser = securityhub.parse_finding if _is_asff(finding) else guardduty.parse_api_finding
        found.append(Part(path, {"Findings": [finding]}, functools.partial(parser, finding, at=path)))
    return found


def _records(event: dict[str, Any], at: str) -> list[Part]:
    records = event.get("Records")
    where = join(at, "Records")
    if not isinstance(records, list) or not records:
        raise invalid(where, "expected a non-empty list of records")
    found = []
    for index, record in enumerate(records):
        path = join(where, f"[{index}]")
        item = obj(record)
        if "Sns" in item:
            found.extend(_decoded(obj(item.get("Sns")).get("Message"), join(path, "Sns.Message")))
        elif item.get("eventSource") == "aws:sqs":
            found.extend(_decoded(item.get("body"), join(path, "body")))
        else:
            raise invalid(path, "expected an SNS or SQS record")
    return found


def _notification(event: dict[str, Any], at: str) -> list[Part]:
    return _decoded(event.get("Message"), join(at, "Message"))


def _decoded(message: Any, at: str) -> list[Part]:
    """The alerts inside a JSON message (an SNS notification or an SQS body)."""
    if not isinstance(message, str):
        raise invalid(at, "expected a JSON message")
    try:
        decoded = json.loads(message)
    except ValueError as exc:
        raise invalid(at, "not JSON: the message carries no alert this intake understands") from exc
    return parts(decoded, at)


def _webhook_payload(payload: dict[str, Any], at: str) -> list[Part]:
    """A webhook body on its own (a saved payload): Grafana if its fields say so, else Alertmanager."""
    alerts = [obj(alert) for alert in seq(payload.get("alerts"))]
    grafana_fields = ("dashboardURL", "panelURL", "silenceURL", "valueString", "values")
    from_grafana = (
        grafana.is_legacy(payload)
        or "orgId" in payload
        or any(key in alert for alert in alerts for key in grafana_fields)
    )
    if from_grafana:
        return grafana.parts(payload, at)
    return alertmanager.parts(payload, at, "alertmanager")


def _webhook_envelope(event: dict[str, Any], detail_type: str, at: str) -> list[Part]:
    detail = obj(event.get("detail"))
    payload = detail.get("payload")
    where = join(at, "detail.payload")
    if not isinstance(payload, dict):
        raise invalid(where, "expected the webhook body")
    source: WebhookSource
    if detail.get("webhook") == "grafana":
        source, found = "grafana", grafana.parts(payload, where)
    elif detail.get("webhook") == "alertmanager":
        source, found = "alertmanager", alertmanager.parts(payload, where, "alertmanager")
    else:
        raise invalid(join(at, "detail.webhook"), "expected grafana or alertmanager")
    return [Part(part.path, webhook_event(source, part.event), part.parse) for part in found]


def _single(parse: Callable[..., Outcome]) -> Callable[[dict[str, Any], str], list[Part]]:
    """A shape that is one alert on its own (a bare finding or alarm message)."""
    return lambda event, at: [_one(event, at, functools.partial(parse, event, at=at))]


_Split = Callable[[dict[str, Any], str, str], list[Part]]
_SOURCES: dict[str, _Split] = {
    "aws.guardduty": _guardduty,
    "aws.securityhub": _security_hub,
    "aws.cloudwatch": _cloudwatch,
    "aws.config": _config,
    WEBHOOK_SOURCE: _webhook_envelope,
}

# Recognized by their fields, most specific first.
_SHAPES: tuple[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any], str], list[Part]]], ...] = (
    (lambda event: "Records" in event, _records),
    (lambda event: event.get("Type") == "Notification" and "Message" in event, _notification),
    (lambda event: "Findings" in event, _findings),
    (lambda event: isinstance(event.get("source"), str), _eventbridge),
    (lambda event: "alerts" in event or grafana.is_legacy(event), _webhook_payload),
    (lambda event: "AlarmName" in event and "NewStateValue" in event, _single(cloudwatch.from_sns_message)),
    (_is_asff, _single(securityhub.parse_finding)),
    (
        lambda event: all(key in event for key in ("accountId", "type", "resource")),
        _single(guardduty.parse_finding),
    ),
    (
        lambda event: all(key in event for key in ("AccountId", "Type", "Resource")),
        _single(guardduty.parse_api_finding),
    ),
)
