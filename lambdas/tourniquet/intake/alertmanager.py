"""Alertmanager webhooks (payload version 4), and the alert shape Grafana's unified alerting shares with them.

One webhook carries a group of alerts, firing and resolved together. Each alert is its own problem: its
labels identify it (Alertmanager's fingerprint is their hash) and ``startsAt`` marks the occurrence, so a
repeat notification of the same occurrence keeps its finding id and a resolved alert finds the incident its
firing opened.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Literal

from tourniquet.intake.common import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Outcome,
    Part,
    build,
    clip,
    dedup_key,
    first,
    flag,
    from_label,
    invalid,
    join,
    labels,
    obj,
    optional_time,
    scalar,
    text,
    time_or_now,
)
from tourniquet.intake.model import UNKNOWN, Resource, Severity
from tourniquet.state import Resolved

WebhookSource = Literal["alertmanager", "grafana"]
PRODUCTS: dict[WebhookSource, str] = {"alertmanager": "Alertmanager", "grafana": "Grafana"}

_ACCOUNT_LABELS = ("account_id", "aws_account_id", "account", "aws_account")
_REGION_LABELS = ("region", "aws_region")
_SEVERITY_LABELS = ("severity", "priority", "level")
_CATEGORY_LABELS = ("category", "grafana_folder", "job")
GROUP_KEY_LIMIT = 1024
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
# Labels that name the affected thing when no AWS resource is named, most specific first.
_GENERIC_LABELS = ("instance", "pod", "service", "job")


def parts(payload: dict[str, Any], at: str, source: WebhookSource) -> list[Part]:
    """One part per alert; each part's event is the payload narrowed to that alert."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise invalid(join(at, "alerts"), "expected a list of alerts")
    if not alerts:
        raise invalid(join(at, "alerts"), "the payload carries no alerts")
    # The group's own fields travel with each alert; the rendered message of the whole group does not.
    group = {key: value for key, value in payload.items() if key not in ("alerts", "message")}
    return [
        Part(
            path=join(at, f"alerts[{index}]"),
            event={**group, "alerts": [alert]},
            parse=functools.partial(parse_alert, payload, alert, join(at, f"alerts[{index}]"), source),
        )
        for index, alert in enumerate(alerts)
    ]


def parse_alert(payload: dict[str, Any], alert: Any, at: str, source: WebhookSource) -> Outcome:
    if not isinstance(alert, dict):
        raise invalid(at, "expected an alert object")
    tags = labels(obj(alert.get("labels")))
    notes = obj(alert.get("annotations"))
    name = text(tags.get("alertname"), join(at, "labels.alertname"))
    status = (first(alert.get("status"), payload.get("status")) or "firing").lower()
    if status not in ("firing", "resolved"):
        raise invalid(join(at, "status"), "expected firing or resolved")

    account = first(*(tags.get(label) for label in _ACCOUNT_LABELS)) or UNKNOWN
    region = first(*(tags.get(label) for label in _REGION_LABELS)) or UNKNOWN
    resources = resources_from_labels(tags, region)
    fingerprint = first(alert.get("fingerprint")) or _fingerprint(tags)
    key = dedup_key(account, region, name, resources[0].id if resources else fingerprint)
    started = optional_time(alert.get("startsAt"))
    finding_id = f"{fingerprint}@{started}" if started else fingerprint
    title = clip(first(notes.get("summary"), notes.get("title")) or name, TITLE_LIMIT)
    product = PRODUCTS[source]
    if status == "resolved":
        return Resolved(
            source=source,
            dedup_key=key,
            finding_id=finding_id,
            title=title,
            reason=f"resolved in {product}",
            time=time_or_now(alert.get("endsAt")),
        )

    level, raw = severity_of(tags)
    details = [
        scalar(notes.get("description"), DESCRIPTION_LIMIT),
        scalar(notes.get("message"), DESCRIPTION_LIMIT),
        f"Values: {value}" if (value := scalar(alert.get("valueString"), DESCRIPTION_LIMIT)) else None,
    ]
    return build(
        source=source,
        product=product,
        finding_id=finding_id,
        type=name,
        category=first(*(tags.get(label) for label in _CATEGORY_LABELS)) or product,
        severity=level,
        severity_raw=raw,
        title=title,
        description=clip("\n".join(d for d in details if d), DESCRIPTION_LIMIT),
        account=account,
        region=region,
        time=started or time_or_now(),
        first_seen=started,
        resources=tuple(resources),
        dedup_key=key,
        drill=is_drill(source, tags),
        raw_ref=first(alert.get("panelURL"), alert.get("dashboardURL"), alert.get("generatorURL")),
        labels=tags,
        group_key=scalar(payload.get("groupKey"), GROUP_KEY_LIMIT),
    )


def severity_of(tags: dict[str, str]) -> tuple[Severity, str]:
    """From a ``severity`` (or ``priority``, ``level``) label; alerts without one count as MEDIUM."""
    raw = first(*(tags.get(label) for label in _SEVERITY_LABELS))
    if raw is None:
        return Severity.MEDIUM, ""
    return from_label(raw) or Severity.MEDIUM, raw


def is_drill(source: WebhookSource, tags: dict[str, str]) -> bool:
    """A ``drill="true"`` label, or the alert Grafana sends when a contact point is tested."""
    grafana_test = (
        source == "grafana" and tags.get("alertname") == "TestAlert" and tags.get("instance") == "Grafana"
    )
    return flag(tags.get("drill")) or grafana_test


def resources_from_labels(tags: dict[str, str], region: str) -> list[Resource]:
    """AWS resources the labels name (an EC2 instance id, a function, a database), else the first generic
    target label (``instance``, ``pod``…) as an ``Other`` resource."""
    where = None if region == UNKNOWN else region
    found = []
    instance = first(tags.get("instance_id"), tags.get("InstanceId"), tags.get("ec2_instance_id"))
    if instance is None and _INSTANCE_ID.match(tags.get("instance", "")):
        instance = tags["instance"]
    if instance:
        found.append(Resource(type="AwsEc2Instance", id=instance, region=where))
    function = first(tags.get("function_name"), tags.get("FunctionName"))
    if function:
        found.append(Resource(type="AwsLambdaFunction", id=function, region=where))
    database = first(tags.get("dbinstance_identifier"), tags.get("DBInstanceIdentifier"))
    if database:
        found.append(Resource(type="AwsRdsDbInstance", id=database, region=where))
    if not found:
        label = next((label for label in _GENERIC_LABELS if tags.get(label)), None)
        if label:
            found.append(Resource(type="Other", id=tags[label], region=where, details={"label": label}))
    return found


def _fingerprint(tags: dict[str, str]) -> str:
    """Alertmanager's own fingerprint is a hash of the labels; this stands in when a sender omits it."""
    return hashlib.sha256(json.dumps(tags, sort_keys=True).encode()).hexdigest()[:16]
