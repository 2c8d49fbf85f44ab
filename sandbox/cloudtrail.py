"""CloudTrail ``LookupEvents`` for moto, which does not implement it, answered from seeded events.

:class:`TrailStore` holds :class:`TrailEvent` records; :func:`install` teaches moto's CloudTrail responses to
answer ``LookupEvents`` from a store: the lookup attribute, time range, ``MaxResults`` and ``NextToken``
behave as CloudTrail's do, newest first, with ``CloudTrailEvent`` as a JSON string. Like CloudTrail's event
history, each account and region sees only its own events: an event whose record names its account
(``recipientAccountId``) and region (``awsRegion``) is answered only to a caller in that account and region.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import JsonRESTError

from sandbox.patches import Patcher

LOOKUP_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50


@dataclass(frozen=True)
class TrailEvent:
    """One management event as ``LookupEvents`` returns it; ``record`` is the full CloudTrail record."""

    event_name: str
    event_source: str
    event_time: datetime
    username: str
    access_key_id: str = ""
    read_only: bool = True
    resources: tuple[tuple[str, str], ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def attribute(self, key: str) -> str | None:
        simple = {
            "EventId": self.event_id,
            "EventName": self.event_name,
            "ReadOnly": "true" if self.read_only else "false",
            "Username": self.username,
            "EventSource": self.event_source,
            "AccessKeyId": self.access_key_id,
        }
        return simple.get(key)

    def seen_in(self, account: str | None, region: str | None) -> bool:
        """Whether the event history of ``account`` and ``region`` holds this event (an event whose record
        names neither is in every history)."""
        recipient = self.record.get("recipientAccountId")
        where = self.record.get("awsRegion")
        in_account = account is None or recipient in (None, account)
        return in_account and (region is None or where in (None, region))

    def matches(self, key: str, value: str) -> bool:
        if key == "ResourceName":
            return any(name == value for _, name in self.resources)
        if key == "ResourceType":
            return any(kind == value for kind, _ in self.resources)
        return self.attribute(key) == value

    def to_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "EventId": self.event_id,
            "EventName": self.event_name,
            "ReadOnly": "true" if self.read_only else "false",
            "EventTime": self.event_time.timestamp(),
            "EventSource": self.event_source,
            "Username": self.username,
            "Resources": [{"ResourceType": kind, "ResourceName": name} for kind, name in self.resources],
            "CloudTrailEvent": json.dumps(
                {"eventID": self.event_id, "eventName": self.event_name, **self.record}, default=str
            ),
        }
        if self.access_key_id:
            item["AccessKeyId"] = self.access_key_id
        return item


class TrailStore:
    """Seeded CloudTrail events, safe to add to while lookups run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[TrailEvent] = []

    def add(self, events: Iterable[TrailEvent]) -> None:
        with self._lock:
            self._events.extend(events)

    def events(self) -> list[TrailEvent]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def lookup(
        self,
        *,
        attributes: Sequence[Mapping[str, str]] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        max_results: int = MAX_RESULTS,
        next_token: str | None = None,
        account: str | None = None,
        region: str | None = None,
    ) -> tuple[list[TrailEvent], str | None]:
        if len(attributes) > 1:
            raise _error(
                "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute."
            )
        for attribute in attributes:
            if attribute.get("AttributeKey") not in LOOKUP_KEYS:
                raise _error("InvalidLookupAttributesException", f"Invalid attribute key {attribute!r}.")
        if not 1 <= max_results <= MAX_RESULTS:
            raise _error("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        if start is not None and end is not None and start > end:
            raise _error("InvalidTimeRangeException", "StartTime must be before EndTime.")
        matched = [
            event
            for event in self.events()
            if event.seen_in(account, region)
            and all(
                event.matches(test["AttributeKey"], test.get("AttributeValue", "")) for test in attributes
            )
            and (start is None or event.event_time >= start)
            and (end is None or event.event_time <= end)
        ]
        matched.sort(key=lambda event: event.event_time, reverse=True)
        offset = _decode_token(next_token) if next_token else 0
        page = matched[offset : offset + max_results]
        more = offset + max_results < len(matched)
        return page, _encode_token(offset + max_results) if more else None


def _error(code: str, message: str) -> JsonRESTError:
    return JsonRESTError(code, message)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _error("InvalidNextTokenException", "Invalid NextToken.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise _error("InvalidNextTokenException", "Invalid NextToken.")
    return offset


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def install(patcher: Patcher, store: TrailStore) -> None:
    """Make moto's CloudTrail answer ``LookupEvents`` from ``store``."""

    def lookup_events(self: CloudTrailResponse) -> str:
        try:
            start = _timestamp(self._get_param("StartTime"))
            end = _timestamp(self._get_param("EndTime"))
        except ValueError as exc:
            raise _error("InvalidTimeRangeException", "StartTime and EndTime must be timestamps.") from exc
        events, token = store.lookup(
            attributes=self._get_param("LookupAttributes") or [],
            start=start,
            end=end,
            max_results=int(self._get_param("MaxResults") or MAX_RESULTS),
            next_token=self._get_param("NextToken"),
            account=self.current_account,
            region=self.region,
        )
        body: dict[str, Any] = {"Events": [event.to_api() for event in events]}
        if token:
            body["NextToken"] = token
        return json.dumps(body)

    # moto dispatches an action to the response method with its snake_case name.
    patcher.set(CloudTrailResponse, "lookup_events", lookup_events)
