"""Fold alerts into incidents: concurrent identical alerts open exactly one incident, and a retried step
answers what it answered before.

A dedup key stays claimed while alerts keep arriving within the window (sliding from the last one seen). A
re-sent finding with the same id (GuardDuty re-publishes updates every 15 min to 6 h) always folds into its
incident, even after the window.

Everything one alert writes is one DynamoDB transaction: a marker for the execution, the claim on the dedup
key, the incident (or, for a copy, the count) and the timeline event land together or not at all. A failure
therefore never leaves a claim without its incident, which would swallow every later copy of the alert. The
marker holds the answer, so a step that Step Functions retries after its writes landed (a
``Lambda.ServiceException`` on the way back, say) finds it and answers the same, instead of folding into
its own incident as a duplicate.

A duplicate costs that one transaction, of small writes. Each copy is a ``duplicate`` event on the
incident's timeline: the exact count, for good. The claim slides its window (``last_seen``) and carries the
count its writer knew (``duplicates``: copies folded in other containers at the same moment may be missing
from it, as from the answer); the incident item, which holds the whole alert, is only checked to exist, not
written: DynamoDB charges a write by the item's size, and a storm would write it once a copy. The container
keeps the last claim it wrote or saw of each dedup key, so the next copy of an alert goes straight to the
duplicate's transaction; the transaction's conditions check the claim, so a stale memory (another
container opened a new incident since, say) costs a failed attempt, whose answer carries the claim as it is,
never a wrong fold.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.errors import Throttled
from tourniquet.intake.model import Alert
from tourniquet.state import IncidentRef

CLAIM_SK = "DEDUP"
# A marker only has to outlive the retries of one step, which take minutes.
MARKER_RETENTION_SECONDS = 86_400
# Past the window a claim is kept a day longer, so that a late copy of a known finding still finds it.
CLAIM_RETENTION_SECONDS = 86_400
# Each lost race means another alert's transaction landed first; a few rounds settle any real contention,
# and beyond that the workflow's own Retry (on Throttled) backs off for longer.
MAX_ATTEMPTS = 6
# Claims remembered per container: a storm's keys, not every key ever seen.
REMEMBERED_CLAIMS = 1024
_MARKER, _CLAIM, _INCIDENT = 0, 1, 2
_deserialize = TypeDeserializer().deserialize


def fold(alert: Alert, *, window_seconds: int, execution_id: str) -> IncidentRef:
    """Open an incident for ``alert`` or fold it into the one its dedup key names, once per execution."""
    table = store.table()
    fold_ = _Fold(alert, window_seconds, execution_id, table.name)
    claim = _claims.recall(fold_.claim_key["pk"], table.name)
    orphaned: str | None = None
    for attempt in range(MAX_ATTEMPTS):
        if claim is not None and orphaned is None and fold_.live(claim):
            writes, answer, written = fold_.duplicate(claim)
        else:
            writes, answer, written = fold_.opening(orphaned)
        try:
            table.meta.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons[_MARKER]["Code"] == "ConditionalCheckFailed":
                return _answer(_item(reasons[_MARKER]))
            orphaned = None
            conflict = any(reason["Code"] == "TransactionConflict" for reason in reasons)
            if reasons[_CLAIM]["Code"] == "ConditionalCheckFailed":
                # The claim as it is: news to a first copy of the alert, or to a container's memory of it.
                claim = _item(reasons[_CLAIM]) or None
            elif reasons[_INCIDENT]["Code"] == "ConditionalCheckFailed" and answer.duplicate:
                # A claim whose incident does not exist (left by an older version that wrote them apart):
                # it must not swallow alerts, so this alert opens an incident in its place.
                orphaned = answer.id
            elif not conflict:
                raise
            if conflict or attempt > 0:
                # Another copy of the alert won the same items a moment ago: retry the transaction here,
                # after a jittered pause of milliseconds, rather than fail the step to the workflow's Retry
                # (seconds, and the whole invocation again).
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not a secret
            continue
        _claims.remember(fold_.claim_key["pk"], table.name, written)
        return answer
    raise Throttled(f"the dedup key {alert.dedup_key} kept changing while folding this alert")


class _Claims:
    """The last claim this container wrote or saw per dedup key: where the next copy is likely to fold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], dict[str, Any]] = {}

    def recall(self, key: str, table_name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._claims.get((table_name, key))

    def remember(self, key: str, table_name: str, claim: dict[str, Any]) -> None:
        with self._lock:
            self._claims.pop((table_name, key), None)
            self._claims[table_name, key] = claim
            while len(self._claims) > REMEMBERED_CLAIMS:
                del self._claims[next(iter(self._claims))]


_claims = _Claims()


class _Fold:
    """The transactions that fold one alert, as the execution ``execution_id`` writes them."""

    def __init__(self, alert: Alert, window_seconds: int, execution_id: str, table_name: str) -> None:
        self.alert = alert
        self.window_seconds = window_seconds
        self.execution_id = execution_id
        self.now = int(time.time())
        self.at = store.iso()
        self.table_name = table_name
        self.claim_key = {"pk": f"DEDUP#{alert.dedup_key}", "sk": CLAIM_SK}

    def live(self, claim: dict[str, Any]) -> bool:
        """Whether the claim still folds this alert: seen within the window, or the same finding again."""
        return bool(
            int(claim.get("last_seen", 0)) >= self.now - self.window_seconds
            or claim.get("finding_id") == self.alert.finding_id
        )

    def opening(self, orphaned: str | None) -> tuple[list[dict[str, Any]], IncidentRef, dict[str, Any]]:
        """A new incident: its claim, the incident item and the ``opened`` event; and the claim written."""
        answer = IncidentRef(id=store.new_id("inc"), dedup_key=self.alert.dedup_key)
        if orphaned is not None:
            condition: dict[str, Any] = {
                "ConditionExpression": "incident_id = :orphaned",
                "ExpressionAttributeValues": {":orphaned": orphaned},
            }
        else:
            condition = {
                "ConditionExpression": "attribute_not_exists(pk) OR "
                "(last_seen < :window_start AND finding_id <> :finding)",
                "ExpressionAttributeValues": {
                    ":window_start": self.now - self.window_seconds,
                    ":finding": self.alert.finding_id,
                },
            }
        alert = self.alert
        claim = {
            **self.claim_key,
            "incident_id": answer.id,
            "finding_id": alert.finding_id,
            "first_seen": self.now,
            "last_seen": self.now,
            "duplicates": 0,
            "expires_at": self.now + self.window_seconds + CLAIM_RETENTION_SECONDS,
        }
        incident = {
            "pk": store.incident_pk(answer.id),
            "sk": store.INCIDENT_SK,
            "incident_id": answer.id,
            "status": "open",
            "source": alert.source,
            "type": alert.type,
            "severity": alert.severity.value,
            "title": alert.title,
            "alert": alert.model_dump(mode="json"),
            "dedup_key": alert.dedup_key,
            "first_seen": self.at,
            "execution_id": self.execution_id,
            # The by-type index: incidents of one alert type, in time order.
            "gsi1pk": f"TYPE#{alert.type}",
            "gsi1sk": self.at,
        }
        event = store.event_item(
            answer.id,
            "opened",
            at=self.at,
            source=alert.source,
            type=alert.type,
            severity=alert.severity.value,
            finding_id=alert.finding_id,
            drill=alert.drill,
            execution_id=self.execution_id,
        )
        writes = [
            self._marker(answer),
            {"Put": {**self._put(claim), **condition, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Put": {**self._put(incident), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {**self._put(event), "ConditionExpression": "attribute_not_exists(sk)"}},
        ]
        return writes, answer, claim

    def duplicate(self, claim: dict[str, Any]) -> tuple[list[dict[str, Any]], IncidentRef, dict[str, Any]]:
        """A copy of a live claim's alert: the claim slides, the timeline counts it; and the claim written."""
        incident_id = str(claim["incident_id"])
        # The count as of the claim last seen: copies folded elsewhere meanwhile are not in it (the
        # timeline's duplicate events are the exact count).
        answer = IncidentRef(
            id=incident_id,
            duplicate=True,
            duplicate_count=int(claim.get("duplicates", 0)) + 1,
            dedup_key=self.alert.dedup_key,
        )
        event = store.event_item(
            incident_id,
            "duplicate",
            at=self.at,
            source=self.alert.source,
            finding_id=self.alert.finding_id,
            count=self.alert.count,
            seen=answer.duplicate_count,
            execution_id=self.execution_id,
        )
        slid = {
            **self.claim_key,
            "incident_id": incident_id,
            "finding_id": claim.get("finding_id"),
            "first_seen": int(claim.get("first_seen", self.now)),
            "last_seen": self.now,
            "duplicates": answer.duplicate_count,
            "expires_at": self.now + self.window_seconds + CLAIM_RETENTION_SECONDS,
        }
        writes = [
            self._marker(answer),
            {
                "Put": {
                    **self._put(slid),
                    # The same incident's claim, still live: otherwise read it again and decide anew.
                    "ConditionExpression": "incident_id = :incident AND "
                    "(last_seen >= :window_start OR finding_id = :finding)",
                    "ExpressionAttributeValues": {
                        ":incident": incident_id,
                        ":window_start": self.now - self.window_seconds,
                        ":finding": self.alert.finding_id,
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "ConditionCheck": {
                    **self._key({"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {"Put": {**self._put(event), "ConditionExpression": "attribute_not_exists(sk)"}},
        ]
        return writes, answer, slid

    def _marker(self, answer: IncidentRef) -> dict[str, Any]:
        marker = {
            "pk": self.claim_key["pk"],
            "sk": f"EXECUTION#{self.execution_id}",
            **answer.model_dump(),
            "expires_at": self.now + MARKER_RETENTION_SECONDS,
        }
        return {
            "Put": {
                **self._put(marker),
                "ConditionExpression": "attribute_not_exists(sk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self.table_name, "Item": item}

    def _key(self, key: dict[str, str]) -> dict[str, Any]:
        return {"TableName": self.table_name, "Key": key}


def _cancellation_reasons(exc: ClientError) -> list[dict[str, Any]]:
    """Why each write of a cancelled transaction failed ("None" for those that would have succeeded)."""
    if aws.error_code(exc) != "TransactionCanceledException":
        raise exc
    reasons = [dict(reason) for reason in exc.response.get("CancellationReasons") or []]
    if len(reasons) <= _INCIDENT:
        raise exc
    return reasons


def _item(reason: dict[str, Any]) -> dict[str, Any]:
    """The item a failed condition saw (``ReturnValuesOnConditionCheckFailure``), as plain values."""
    raw = reason.get("Item") or {}
    return {name: store.plain(_deserialize(value)) for name, value in raw.items()}


def _answer(marker: dict[str, Any]) -> IncidentRef:
    return IncidentRef.model_validate(marker)
