"""The cloudtrail diagnostics (read-only): recent management events that name the instance or the actor.

LookupEvents allows two requests per second per account and Region, so the lookup is bounded: one day
before the alert up to now, at most 50 events over at most a few pages.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tourniquet import aws, store

LOOKBACK = timedelta(hours=24)
MAX_EVENTS = 50
MAX_PAGES = 5
RECENT_EVENTS = 10
MAX_LISTED = 20
_MAX_TEXT = 256


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(alert_time: str, now: datetime, lookback: timedelta = LOOKBACK) -> Window:
    """From ``lookback`` (a day) before the alert to now; an unreadable or future alert time counts as now."""
    seen = alert_moment(alert_time, now)
    return Window(start=seen - lookback, end=now)


def alert_moment(alert_time: str, now: datetime) -> datetime:
    """The alert's time; an unreadable or future one counts as now."""
    try:
        seen = datetime.fromisoformat(alert_time)
    except ValueError:
        seen = now
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return min(seen, now)


_TAGGING = {"CreateTags": "added", "DeleteTags": "removed"}


def tag_changes(events: Iterable[Mapping[str, Any]], key: str, before: datetime) -> list[dict[str, Any]]:
    """Who added or removed the tag ``key`` on the resource before ``before``, newest first."""
    changes = []
    for raw in events:
        change = _TAGGING.get(str(raw.get("EventName")))
        moment = raw.get("EventTime")
        if change is None or not isinstance(moment, datetime) or moment > before:
            continue
        record = _record(raw.get("CloudTrailEvent"))
        if record.get("errorCode"):
            continue
        parameters = record.get("requestParameters")
        items = (
            ((parameters or {}).get("tagSet") or {}).get("items") if isinstance(parameters, dict) else None
        )
        if not isinstance(items, list) or not any(isinstance(i, dict) and i.get("key") == key for i in items):
            continue
        event = _event(raw)
        changes.append({"change": change, "at": event["time"], "by": event["user"]})
    return sorted(changes, key=lambda c: c["at"] or "", reverse=True)


def new_networks(events: Iterable[Mapping[str, Any]], since: datetime) -> tuple[list[str], int]:
    """The source addresses seen from ``since`` on whose network (an IPv4 /24, an IPv6 /48) none of the
    earlier events came from, and how many earlier events there were to compare with. AWS services calling
    on the actor's behalf (``ec2.amazonaws.com``) are no network."""
    before: set[Any] = set()
    after: dict[Any, str] = {}
    earlier = 0
    for raw in events:
        moment = raw.get("EventTime")
        address = _text(_record(raw.get("CloudTrailEvent")).get("sourceIPAddress"))
        network = _network(address)
        if not isinstance(moment, datetime) or network is None or address is None:
            continue
        if moment < since:
            earlier += 1
            before.add(network)
        else:
            after.setdefault(network, address)
    if not earlier:
        return [], 0
    return sorted(address for network, address in after.items() if network not in before)[
        :MAX_LISTED
    ], earlier


def _network(address: str | None) -> Any:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    return ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False)


def lookup(value: str, span: Window, attribute: str = "ResourceName") -> tuple[list[dict[str, Any]], bool]:
    """Events whose ``attribute`` (ResourceName, AccessKeyId, Username) is ``value``, newest first, and
    whether more existed than were read."""
    client = aws.client("cloudtrail")
    events: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}],
            "StartTime": span.start,
            "EndTime": span.end,
            "MaxResults": MAX_EVENTS - len(events),
        }
        if token:
            request["NextToken"] = token
        page = client.lookup_events(**request)
        events.extend(page.get("Events", []))
        token = page.get("NextToken")
        if not token or len(events) >= MAX_EVENTS:
            break
    return events[:MAX_EVENTS], bool(token)


def summarize(events: Iterable[Mapping[str, Any]], span: Window, *, truncated: bool) -> dict[str, Any]:
    """Counts, names, addresses and errors of the events, and the most recent few in full."""
    parsed = sorted((_event(raw) for raw in events), key=lambda e: e["time"] or "", reverse=True)
    times = [e["time"] for e in parsed if e["time"]]
    return {
        "window": {"start": store.iso(span.start), "end": store.iso(span.end)},
        "count": len(parsed),
        "truncated": truncated,
        "event_names": dict(Counter(e["name"] for e in parsed).most_common()),
        "errors": dict(Counter(e["error"] for e in parsed if e["error"]).most_common()),
        "source_ips": sorted({e["source_ip"] for e in parsed if e["source_ip"]})[:MAX_LISTED],
        "users": sorted({e["user"] for e in parsed if e["user"]})[:MAX_LISTED],
        "first_seen": min(times) if times else None,
        "last_seen": max(times) if times else None,
        "recent": parsed[:RECENT_EVENTS],
    }


def _event(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = _record(raw.get("CloudTrailEvent"))
    identity = record.get("userIdentity")
    identity_arn = identity.get("arn") if isinstance(identity, dict) else None
    moment = raw.get("EventTime")
    return {
        "name": _text(raw.get("EventName")) or "unknown",
        "time": store.iso(moment.astimezone(UTC)) if isinstance(moment, datetime) else None,
        "user": _text(raw.get("Username")) or _text(identity_arn),
        "source_ip": _text(record.get("sourceIPAddress")),
        "error": _text(record.get("errorCode")),
    }


def _record(document: Any) -> dict[str, Any]:
    """The full CloudTrail record carried as a JSON string; anything unreadable counts as empty."""
    if not isinstance(document, str):
        return {}
    try:
        parsed = json.loads(document)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(value: Any) -> str | None:
    # Event fields can carry caller-chosen text (user names, hosts); keep them bounded.
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None
