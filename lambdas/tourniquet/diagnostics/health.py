"""The health diagnostic (read-only): open and upcoming AWS Health events that name the instance.

The Health API answers for every Region from its global endpoint (served from us-east-1; botocore resolves
it whatever the client's Region), and only to accounts with a Business, Enterprise On-Ramp or Enterprise
support plan; other accounts get SubscriptionRequiredException.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, store

MAX_EVENTS = 20
SUBSCRIPTION_REQUIRED = "SubscriptionRequiredException"


class HealthUnavailable(Exception):
    """The account cannot read AWS Health (no qualifying support plan)."""


def events(instance_id: str, region: str | None) -> tuple[list[dict[str, Any]], bool]:
    """The instance's open and upcoming events, most recent first, and whether more existed than were read."""
    event_filter: dict[str, Any] = {"entityValues": [instance_id], "eventStatusCodes": ["open", "upcoming"]}
    if region:
        event_filter["regions"] = [region]
    try:
        page = aws.client("health").describe_events(filter=event_filter, maxResults=MAX_EVENTS)
    except ClientError as exc:
        if aws.error_code(exc) == SUBSCRIPTION_REQUIRED:
            raise HealthUnavailable(
                "AWS Health needs a Business, Enterprise On-Ramp or Enterprise support plan"
            ) from exc
        raise
    parsed = sorted(
        (_event(raw) for raw in page.get("events", [])), key=lambda e: e["start"] or "", reverse=True
    )
    return parsed, bool(page.get("nextToken"))


def _event(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "arn": raw.get("arn"),
        "service": raw.get("service"),
        "type": raw.get("eventTypeCode"),
        "category": raw.get("eventTypeCategory"),
        "status": raw.get("statusCode"),
        "region": raw.get("region"),
        "start": _iso(raw.get("startTime")),
        "end": _iso(raw.get("endTime")),
        "last_updated": _iso(raw.get("lastUpdatedTime")),
    }


def _iso(moment: Any) -> str | None:
    return store.iso(moment.astimezone(UTC)) if isinstance(moment, datetime) else None
