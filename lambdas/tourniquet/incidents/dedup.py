"""Fold alerts into incidents. One conditional write decides every race: concurrent identical alerts open
exactly one incident.

A dedup key stays claimed while alerts keep arriving within the window (sliding from the last one seen). A
re-sent finding with the same id (GuardDuty re-publishes updates every 15 min to 6 h) always folds into its
incident, even after the window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import store
from tourniquet.intake.model import Alert


@dataclass(frozen=True)
class Folded:
    incident_id: str
    duplicate: bool
    duplicate_count: int
    dedup_key: str

    def as_state(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "duplicate": self.duplicate,
            "duplicate_count": self.duplicate_count,
            "dedup_key": self.dedup_key,
        }


def fold(alert: Alert, *, window_seconds: int, execution_id: str | None) -> Folded:
    now = int(time.time())
    key = {"pk": f"DEDUP#{alert.dedup_key}", "sk": "DEDUP"}
    incident_id = store.new_id("inc")
    try:
        store.table().put_item(
            Item={
                **key,
                "incident_id": incident_id,
                "finding_id": alert.finding_id,
                "first_seen": now,
                "last_seen": now,
                "duplicates": 0,
                "expires_at": now + window_seconds + 86_400,
            },
            ConditionExpression=(
                "attribute_not_exists(pk) OR (last_seen < :window_start AND finding_id <> :finding)"
            ),
            ExpressionAttributeValues={":window_start": now - window_seconds, ":finding": alert.finding_id},
        )
    except ClientError as exc:
        if not store.is_conditional_failure(exc):
            raise
        return _record_duplicate(key, alert, now, window_seconds)
    _open_incident(incident_id, alert, execution_id)
    return Folded(incident_id, duplicate=False, duplicate_count=0, dedup_key=alert.dedup_key)


def _open_incident(incident_id: str, alert: Alert, execution_id: str | None) -> None:
    # An update, not a conditional put: a concurrent duplicate may already have counted itself on this
    # incident (ADD duplicate_count), and both writes must land in either order.
    at = store.iso()
    fields: dict[str, Any] = {
        "incident_id": incident_id,
        "status": "open",
        "source": alert.source,
        "type": alert.type,
        "severity": alert.severity.value,
        "title": alert.title,
        "alert": alert.model_dump(mode="json"),
        "dedup_key": alert.dedup_key,
        "first_seen": at,
        "execution_id": execution_id,
        # The by-type index: incidents of one alert type, in time order.
        "gsi1pk": f"TYPE#{alert.type}",
        "gsi1sk": at,
    }
    assignments, names, values = store.set_clause(fields)
    store.table().update_item(
        Key={"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK},
        UpdateExpression=f"SET {assignments}, duplicate_count = if_not_exists(duplicate_count, :zero), "
        "last_seen = if_not_exists(last_seen, :at)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={**values, ":zero": 0, ":at": at},
    )
    store.append_event(
        incident_id,
        "opened",
        source=alert.source,
        type=alert.type,
        severity=alert.severity.value,
        finding_id=alert.finding_id,
        drill=alert.drill,
        execution_id=execution_id,
    )


def _record_duplicate(key: dict[str, str], alert: Alert, now: int, window_seconds: int) -> Folded:
    claimed = store.table().update_item(
        Key=key,
        UpdateExpression="SET last_seen = :now, expires_at = :expires ADD duplicates :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":now": now, ":expires": now + window_seconds + 86_400, ":one": 1},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    incident_id = str(claimed["incident_id"])
    count = int(claimed["duplicates"])
    store.table().update_item(
        Key={"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK},
        UpdateExpression="SET last_seen = :at ADD duplicate_count :one",
        ExpressionAttributeValues={":at": store.iso(), ":one": 1},
    )
    store.append_event(
        incident_id,
        "duplicate",
        source=alert.source,
        finding_id=alert.finding_id,
        count=alert.count,
        seen=count,
    )
    return Folded(incident_id, duplicate=True, duplicate_count=count, dedup_key=alert.dedup_key)
