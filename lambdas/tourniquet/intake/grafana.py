"""Grafana webhooks: unified alerting (an Alertmanager payload with Grafana's extra fields, one alert per
series) and legacy dashboard alerting (one notification per rule: ``alerting``, ``no_data`` or ``ok``)."""

from __future__ import annotations

from typing import Any

from tourniquet.intake import alertmanager
from tourniquet.intake.common import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Outcome,
    Part,
    build,
    clip,
    dedup_key,
    first,
    invalid,
    join,
    labels,
    obj,
    scalar,
    seq,
    text,
    time_or_now,
)
from tourniquet.intake.model import UNKNOWN
from tourniquet.state import Ignored, Resolved

_LEGACY_KEYS = ("ruleName", "ruleId", "evalMatches", "ruleUrl")
_LEGACY_FIRING = ("alerting", "no_data")
_LEGACY_QUIET = ("pending", "paused")


def is_legacy(payload: dict[str, Any]) -> bool:
    return "alerts" not in payload and any(key in payload for key in _LEGACY_KEYS)


def parts(payload: dict[str, Any], at: str) -> list[Part]:
    if is_legacy(payload):
        return [Part(path=at, event=payload, parse=lambda: parse_legacy(payload, at))]
    if "alerts" not in payload:
        raise invalid(
            join(at, "alerts"),
            "expected Grafana's alerts list (unified alerting) or ruleName and state (legacy alerting)",
        )
    return alertmanager.parts(payload, at, "grafana")


def parse_legacy(payload: dict[str, Any], at: str) -> Outcome:
    """A legacy notification. Its rule is the problem's identity: an ``ok`` carries no matches, so only the
    rule links it to the ``alerting`` notification it resolves."""
    state = text(payload.get("state"), join(at, "state")).lower()
    name = text(first(payload.get("ruleName"), payload.get("title")), join(at, "ruleName"))
    tags = labels(obj(payload.get("tags")))
    rule = first(payload.get("ruleId"))
    identity = f"grafana-rule:{first(payload.get('orgId')) or '1'}:{rule or name}"
    account = first(*(tags.get(label) for label in ("account_id", "aws_account_id", "account"))) or UNKNOWN
    region = first(tags.get("region"), tags.get("aws_region")) or UNKNOWN
    key = dedup_key(account, region, name, identity)
    title = clip(first(payload.get("title")) or name, TITLE_LIMIT)
    if state == "ok":
        return Resolved(
            source="grafana",
            dedup_key=key,
            finding_id=identity,
            title=title,
            reason="resolved in Grafana",
            time=time_or_now(),
        )
    if state in _LEGACY_QUIET:
        return Ignored(source="grafana", reason=f"legacy alert {state}: not firing")
    if state not in _LEGACY_FIRING:
        raise invalid(join(at, "state"), "expected alerting, no_data, ok, pending or paused")

    matches = [obj(match) for match in seq(payload.get("evalMatches"))]
    series: dict[str, str] = {}
    for match in matches:
        series.update(labels(obj(match.get("tags"))))
    values = "; ".join(
        f"{scalar(match.get('metric')) or 'value'}={scalar(match.get('value'))}"
        for match in matches
        if scalar(match.get("value")) is not None
    )
    level, raw = alertmanager.severity_of(tags)
    details = [scalar(payload.get("message"), DESCRIPTION_LIMIT), "No data." if state == "no_data" else None]
    return build(
        source="grafana",
        product="Grafana",
        finding_id=identity,
        type=name,
        category=tags.get("category") or "Grafana",
        severity=level,
        severity_raw=raw,
        title=title,
        description=clip("\n".join(d for d in [*details, values or None] if d), DESCRIPTION_LIMIT),
        account=account,
        region=region,
        time=time_or_now(),
        resources=tuple(alertmanager.resources_from_labels(series, region)),
        dedup_key=key,
        drill=rule in (None, "0") and name == "Test notification",
        raw_ref=first(payload.get("ruleUrl")),
        labels=tags,
    )
