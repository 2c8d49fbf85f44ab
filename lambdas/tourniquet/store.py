"""The single DynamoDB table: incidents, their append-only timeline, undo records, dedup keys and approvals.

Key design (pk / sk) and how long each kind of item is kept. DynamoDB's TTL deletes an item some time after
the epoch second in its ``expires_at`` attribute (a Number; a string would be ignored for ever):

============================  =====================  ===========================  ==========================
item                          pk                     sk                           ``expires_at`` (TTL)
============================  =====================  ===========================  ==========================
incident                      ``INCIDENT#<id>``      ``INCIDENT``                 none: the audit trail
timeline event (append)       ``INCIDENT#<id>``      ``EVENT#<iso time>#<seq>``   none: the audit trail
undo record (before-state)    ``INCIDENT#<id>``      ``UNDO#<action>#<target>``   none: release needs it
dedup claim                   ``DEDUP#<key>``        ``DEDUP``                    last seen + window + 1 day
execution marker              ``DEDUP#<key>``        ``EXECUTION#<execution>``    written + 1 day
approval, offer, batch        ``APPROVAL#<id>``      ``APPROVAL``                 deadline + retention
ignored / resolved / failure  ``IGNORED#<day>`` …    ``<iso time>#<execution>``   written + retention
report sent mark              ``REPORT#<period>``    ``SENT#<channel>``           period end + retention
============================  =====================  ===========================  ==========================

Incidents, their timeline and their undo records are kept until someone deletes them: they are what an
auditor reads, and release restores from the undo records however late it comes. Everything else is
working state: its retention (``RETENTION_DAYS``, 90 by default) keeps it readable for a while after use.
An approval's task token is erased as soon as the workflow stops waiting for it.
"""

from __future__ import annotations

import functools
import itertools
import operator
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key
from botocore.exceptions import ClientError

from tourniquet import aws
from tourniquet.settings import get_settings

if TYPE_CHECKING:
    from tourniquet.state import Scope

INCIDENT_SK = "INCIDENT"
# The index of incidents by alert type, sorted by when each was first seen (stacks.storage creates it; the
# deduplicate step writes its keys on incident items only).
INCIDENTS_BY_TYPE_INDEX = "by-type"
_seq = itertools.count()


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(iso_time: str) -> int:
    """An ``iso`` time as epoch seconds (what DynamoDB's TTL reads)."""
    return int(datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp())


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def incident_pk(incident_id: str) -> str:
    return f"INCIDENT#{incident_id}"


def table() -> Any:
    return aws.table(get_settings().table_name)


def plain(value: Any) -> Any:
    """DynamoDB items as JSON-ready values (Decimal becomes int or float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def is_conditional_failure(exc: ClientError) -> bool:
    return aws.error_code(exc) == "ConditionalCheckFailedException"


def get_incident(incident_id: str) -> dict[str, Any] | None:
    item = table().get_item(Key={"pk": incident_pk(incident_id), "sk": INCIDENT_SK}, ConsistentRead=True)
    return plain(item["Item"]) if "Item" in item else None


def set_clause(fields: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET`` assignments for an UpdateExpression, with placeholder names and values."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": value for i, value in enumerate(fields.values())}
    return ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))), names, values


def update_incident(incident_id: str, **fields: Any) -> None:
    """Set top-level attributes of an existing incident."""
    assignments, names, values = set_clause(fields)
    table().update_item(
        Key={"pk": incident_pk(incident_id), "sk": INCIDENT_SK},
        UpdateExpression=f"SET {assignments}",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def event_item(
    incident_id: str, kind: str, *, actor: str = "automation", at: str | None = None, **detail: Any
) -> dict[str, Any]:
    """One timeline event, as stored (fields without a value are left out)."""
    at = at or iso()
    return {
        "pk": incident_pk(incident_id),
        "sk": f"EVENT#{at}#{next(_seq):06d}{secrets.token_hex(2)}",
        "kind": kind,
        "actor": actor,
        "at": at,
        **{k: v for k, v in detail.items() if v is not None},
    }


def append_event(incident_id: str, kind: str, *, actor: str = "automation", **detail: Any) -> dict[str, Any]:
    """Append one event to the incident's timeline. Events are never updated or deleted."""
    item = event_item(incident_id, kind, actor=actor, **detail)
    table().put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
    return item


def timeline(incident_id: str) -> list[dict[str, Any]]:
    return _query_prefix(incident_id, "EVENT#")


def undo_item(
    incident_id: str, action: str, target: str, before: dict[str, Any], *, scope: Scope
) -> dict[str, Any]:
    """A before-state as recorded, with where it was read (release restores it there)."""
    return {
        "pk": incident_pk(incident_id),
        "sk": f"UNDO#{action}#{target}",
        "action": action,
        "target": target,
        "scope": scope.as_state(),
        "before": before,
        "at": iso(),
    }


# The most items one DynamoDB transaction takes.
TRANSACTION_ITEMS = 100


def put_new(items: Sequence[dict[str, Any]]) -> set[str]:
    """Write every item whose key is new, together, and leave the others as they are: a retried step keeps
    its first undo records (never the half-contained state), and a timeline event is never overwritten.

    One round trip for up to ``TRANSACTION_ITEMS`` items (a transaction: all land or none), and one more
    when some were there already. Returns the sort keys of those that were.
    """
    existing: set[str] = set()
    for start in range(0, len(items), TRANSACTION_ITEMS):
        pending = list(items[start : start + TRANSACTION_ITEMS])
        while pending:
            try:
                table().meta.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table().name,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(sk)",
                            }
                        }
                        for item in pending
                    ]
                )
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                there = {
                    item["sk"]
                    for item, reason in zip(pending, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if aws.error_code(exc) != "TransactionCanceledException" or not there:
                    raise
                existing |= there
                pending = [item for item in pending if item["sk"] not in there]
                continue
            break
    return existing


def undo_records(incident_id: str) -> list[dict[str, Any]]:
    return _query_prefix(incident_id, "UNDO#")


# An incident's resources: one item per problem (dedup key) its alerts named (tourniquet.incidents.dedup).
RESOURCE_PREFIX = "RESOURCE#"


def resource_items(incident_id: str) -> list[dict[str, Any]]:
    return _query_prefix(incident_id, RESOURCE_PREFIX)


def _query_prefix(incident_id: str, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(incident_pk(incident_id)) & Key("sk").begins_with(prefix),
        "ConsistentRead": True,
    }
    while True:
        page = table().query(**kwargs)
        items.extend(plain(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def incidents(
    *, since: str, incident_type: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Incidents first seen at or after ``since`` (ISO 8601 UTC), newest first: of one alert type through the
    by-type index, or of every type by reading that index (it holds incident items and nothing else)."""
    wanted: list[ConditionBase] = [Attr("status").eq(status)] if status else []
    kwargs: dict[str, Any] = {"IndexName": INCIDENTS_BY_TYPE_INDEX}
    if incident_type is not None:
        key = Key("gsi1pk").eq(f"TYPE#{incident_type}") & Key("gsi1sk").gte(since)
        kwargs["KeyConditionExpression"] = key
        kwargs["ScanIndexForward"] = False
        read = table().query
    else:
        wanted.append(Attr("gsi1sk").gte(since))
        read = table().scan
    if wanted:
        kwargs["FilterExpression"] = functools.reduce(operator.and_, wanted)
    items: list[dict[str, Any]] = []
    while True:
        page = read(**kwargs)
        items.extend(plain(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: str(item.get("gsi1sk", "")), reverse=True)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
