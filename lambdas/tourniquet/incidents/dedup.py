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

Storms (docs/dedup-and-correlation.md): an alert whose playbook gives it a correlation key also claims that
key (``STORM#…``) when it opens an incident. A later alert of another problem with the same correlation key
joins that incident while the storm's claim is live (sliding like a dedup claim): its own dedup claim points
at the storm's incident, its resource is listed there and a ``folded`` event counts it, all in one
transaction with the slid storm claim, as for a duplicate. A copy of a storm's problem slides the storm's
claim too. The storm's claim records the last alert that folded in (``last_execution``), so that the thread
hears of a storm once it settles (:mod:`tourniquet.incidents.storm`).

An alert that opens an incident or joins a storm's lists its resource there (``RESOURCE#<dedup key>``): what
it is and when it was first seen. A copy writes nothing more than before: the resource's claim carries how
many alerts named it and when the last came (:func:`tourniquet.incidents.storm.resources` reads both).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.errors import Throttled
from tourniquet.incidents.keys import FoldKeys
from tourniquet.intake.model import Alert
from tourniquet.state import IncidentRef

CLAIM_SK = "DEDUP"
STORM_SK = "STORM"
SUMMARY_SK = "SUMMARY"
# A marker only has to outlive the retries of one step, which take minutes.
MARKER_RETENTION_SECONDS = 86_400
# Past the window a claim is kept a day longer, so that a late copy of a known finding still finds it.
CLAIM_RETENTION_SECONDS = 86_400
# Each lost race means another alert's transaction landed first; a few rounds settle any real contention,
# and beyond that the workflow's own Retry (on Throttled) backs off for longer.
MAX_ATTEMPTS = 6
# Claims remembered per container: a storm's keys, not every key ever seen.
REMEMBERED_CLAIMS = 1024
_MARKER, _CLAIM, _INCIDENT, _STORM = 0, 1, 2, 5
_deserialize = TypeDeserializer().deserialize


def fold(
    alert: Alert, *, window_seconds: int, execution_id: str, keys: FoldKeys | None = None
) -> IncidentRef:
    """Open an incident for ``alert``, or fold it into the one its dedup key (a copy) or its correlation key
    (another problem of the same storm) names, once per execution. Without ``keys``, the alert's own dedup
    key and no correlation."""
    keys = keys or FoldKeys(dedup=alert.dedup_key)
    table = store.table()
    fold_ = _Fold(alert, keys, window_seconds, execution_id, table.name)
    known = _Known(
        claim=_claims.recall(fold_.claim_key["pk"], table.name),
        storm=_claims.recall(fold_.storm_key["pk"], table.name) if fold_.storm_key else None,
    )
    for attempt in range(MAX_ATTEMPTS):
        if known.claim is not None and known.orphaned is None and fold_.live(known.claim):
            writes, answer, written = fold_.duplicate(known.claim, known.storm)
        elif known.storm and known.storm_orphaned is None and fold_.storm_live(known.storm):
            writes, answer, written = fold_.joining(known.storm, known.orphaned)
        else:
            writes, answer, written = fold_.opening(known.orphaned, known.storm_orphaned)
        try:
            table.meta.client.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons[_MARKER]["Code"] == "ConditionalCheckFailed":
                return _answer(_item(reasons[_MARKER]))
            conflict = any(reason["Code"] == "TransactionConflict" for reason in reasons)
            if not known.learn(reasons, answer) and not conflict:
                raise
            if conflict or attempt > 0:
                # Another copy of the alert won the same items a moment ago: retry the transaction here,
                # after a jittered pause of milliseconds, rather than fail the step to the workflow's Retry
                # (seconds, and the whole invocation again).
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not a secret
            continue
        for key, item in written.items():
            _claims.remember(key, table.name, item)
        return answer
    raise Throttled(f"the dedup key {keys.dedup} kept changing while folding this alert")


@dataclass
class _Known:
    """What one fold knows of the items that decide it, learnt from each transaction that failed.

    ``storm`` is None when unknown and empty when known to be absent; ``orphaned`` and ``storm_orphaned``
    name an incident that a claim points at but that does not exist.
    """

    claim: dict[str, Any] | None = None
    storm: dict[str, Any] | None = None
    orphaned: str | None = None
    storm_orphaned: str | None = None

    def learn(self, reasons: list[dict[str, Any]], answer: IncidentRef) -> bool:
        """Take in why a transaction failed; False when it failed for none of the reasons a fold expects."""
        if reasons[_CLAIM]["Code"] == "ConditionalCheckFailed":
            # The claim as it is: news to a first copy of the alert, or to a container's memory of it.
            self.claim = _item(reasons[_CLAIM]) or None
            self.orphaned = None
        elif reasons[_INCIDENT]["Code"] == "ConditionalCheckFailed" and answer.duplicate:
            # A claim whose incident does not exist (left by an older version that wrote them apart): it
            # must not swallow alerts, so this alert opens an incident in its place.
            self.orphaned = answer.id
        elif reasons[_INCIDENT]["Code"] == "ConditionalCheckFailed" and answer.folded:
            # The same for a storm's claim: this alert opens the storm's incident anew.
            self.storm_orphaned = answer.id
        elif len(reasons) > _STORM and reasons[_STORM]["Code"] == "ConditionalCheckFailed":
            # The storm's claim moved on (another incident took it, or it lapsed): decide anew.
            self.storm = _item(reasons[_STORM])
            self.storm_orphaned = None
        else:
            return False
        return True


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


Written = dict[str, dict[str, Any]]
"""The claims a transaction wrote, by their key: what the container remembers of them."""


class _Fold:
    """The transactions that fold one alert, as the execution ``execution_id`` writes them."""

    def __init__(
        self, alert: Alert, keys: FoldKeys, window_seconds: int, execution_id: str, table_name: str
    ) -> None:
        self.alert = alert
        self.keys = keys
        self.window_seconds = window_seconds
        self.execution_id = execution_id
        self.now = int(time.time())
        self.at = store.iso()
        self.table_name = table_name
        self.claim_key = {"pk": f"DEDUP#{keys.dedup}", "sk": CLAIM_SK}
        self.storm_key = {"pk": f"STORM#{keys.correlation}", "sk": STORM_SK} if keys.correlation else None

    def live(self, claim: dict[str, Any]) -> bool:
        """Whether the claim still folds this alert: seen within the window, or the same finding again."""
        return bool(
            int(claim.get("last_seen", 0)) >= self.window_start
            or claim.get("finding_id") == self.alert.finding_id
        )

    def storm_live(self, storm: dict[str, Any]) -> bool:
        """Whether the storm's claim still gathers problems: one joined it within the window."""
        return int(storm.get("last_seen", 0)) >= self.window_start

    @property
    def window_start(self) -> int:
        return self.now - self.window_seconds

    def opening(
        self, orphaned: str | None, storm_orphaned: str | None
    ) -> tuple[list[dict[str, Any]], IncidentRef, Written]:
        """A new incident: its claims, the incident item, the ``opened`` event and its resource."""
        answer = IncidentRef(
            id=store.new_id("inc"), dedup_key=self.keys.dedup, correlation_key=self.keys.correlation
        )
        alert = self.alert
        claim = self._claim(answer.id, alert.finding_id, first_seen=self.now, duplicates=0)
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
            "dedup_key": self.keys.dedup,
            "first_seen": self.at,
            "execution_id": self.execution_id,
            # The by-type index: incidents of one alert type, in time order.
            "gsi1pk": f"TYPE#{alert.type}",
            "gsi1sk": self.at,
        }
        if self.keys.correlation:
            incident["correlation_key"] = self.keys.correlation
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
            {
                "Put": {
                    **self._put(claim),
                    **self._new_claim(orphaned),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {"Put": {**self._put(incident), "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {**self._put(event), "ConditionExpression": "attribute_not_exists(sk)"}},
            self._resource(answer.id),
        ]
        written = {self.claim_key["pk"]: claim}
        if self.storm_key is not None:
            storm = {
                **self.storm_key,
                "incident_id": answer.id,
                "first_seen": self.now,
                "last_seen": self.now,
                "last_execution": self.execution_id,
                "expires_at": self.now + self.window_seconds + CLAIM_RETENTION_SECONDS,
            }
            condition = "attribute_not_exists(pk) OR last_seen < :window_start"
            values: dict[str, Any] = {":window_start": self.window_start}
            if storm_orphaned is not None:
                condition += " OR incident_id = :orphaned"
                values[":orphaned"] = storm_orphaned
            writes.append(
                {
                    "Put": {
                        **self._put(storm),
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": values,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
            # Its thread's summaries, apart from the claim so that the claim is written whole: the first is
            # due when the storm settles, or at the latest a summary interval on.
            summary = {
                "pk": self.storm_key["pk"],
                "sk": SUMMARY_SK,
                "incident_id": answer.id,
                "summarized_at": self.at,
                "expires_at": storm["expires_at"],
            }
            writes.append({"Put": self._put(summary)})
            written[self.storm_key["pk"]] = storm
        return writes, answer, written

    def joining(
        self, storm: dict[str, Any], orphaned: str | None
    ) -> tuple[list[dict[str, Any]], IncidentRef, Written]:
        """Another problem of a live storm: it joins the storm's incident as a resource of its own."""
        assert self.storm_key is not None
        incident_id = str(storm["incident_id"])
        answer = IncidentRef(
            id=incident_id,
            folded=True,
            contain=self.keys.contain,
            dedup_key=self.keys.dedup,
            correlation_key=self.keys.correlation,
        )
        claim = self._claim(incident_id, self.alert.finding_id, first_seen=self.now, duplicates=0)
        event = store.event_item(
            incident_id,
            "folded",
            at=self.at,
            source=self.alert.source,
            finding_id=self.alert.finding_id,
            resource=self._resource_id(),
            execution_id=self.execution_id,
        )
        slid = self._slid_storm(storm, incident_id)
        writes = [
            self._marker(answer),
            {
                "Put": {
                    **self._put(claim),
                    **self._new_claim(orphaned),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            self._incident_exists(incident_id),
            {"Put": {**self._put(event), "ConditionExpression": "attribute_not_exists(sk)"}},
            self._resource(incident_id),
            self._storm_write(slid, incident_id, live=True),
        ]
        return writes, answer, {self.claim_key["pk"]: claim, self.storm_key["pk"]: slid}

    def duplicate(
        self, claim: dict[str, Any], storm: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], IncidentRef, Written]:
        """A copy of a live claim's alert: the claim slides, the timeline counts it; a copy of a storm's
        problem slides the storm's claim too."""
        incident_id = str(claim["incident_id"])
        # Unknown (None) is worth a try: the storm's claim's condition says whether it is this incident's.
        in_storm = self.storm_key is not None and (storm is None or storm.get("incident_id") == incident_id)
        # The count as of the claim last seen: copies folded elsewhere meanwhile are not in it (the
        # timeline's duplicate events are the exact count).
        answer = IncidentRef(
            id=incident_id,
            duplicate=True,
            duplicate_count=int(claim.get("duplicates", 0)) + 1,
            folded=in_storm,
            dedup_key=self.keys.dedup,
            correlation_key=self.keys.correlation if in_storm else None,
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
        slid = self._claim(
            incident_id,
            claim.get("finding_id"),
            first_seen=int(claim.get("first_seen", self.now)),
            duplicates=answer.duplicate_count,
        )
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
                        ":window_start": self.window_start,
                        ":finding": self.alert.finding_id,
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            self._incident_exists(incident_id),
            {"Put": {**self._put(event), "ConditionExpression": "attribute_not_exists(sk)"}},
        ]
        written = {self.claim_key["pk"]: slid}
        if in_storm and self.storm_key is not None:
            storm_slid = self._slid_storm(storm or {}, incident_id)
            writes.append(self._storm_write(storm_slid, incident_id, live=False))
            written[self.storm_key["pk"]] = storm_slid
        return writes, answer, written

    # --- items -----------------------------------------------------------------------------------------

    def _claim(
        self, incident_id: str, finding_id: Any, *, first_seen: int, duplicates: int
    ) -> dict[str, Any]:
        return {
            **self.claim_key,
            "incident_id": incident_id,
            "finding_id": finding_id,
            "first_seen": first_seen,
            # The last alert's moment as an ISO time, as the incident's resource list shows it.
            "last_seen_at": self.at,
            "last_seen": self.now,
            "duplicates": duplicates,
            "expires_at": self.now + self.window_seconds + CLAIM_RETENTION_SECONDS,
        }

    def _new_claim(self, orphaned: str | None) -> dict[str, Any]:
        """The condition of a claim this alert takes: none live (or one whose incident never existed)."""
        if orphaned is not None:
            return {
                "ConditionExpression": "incident_id = :orphaned",
                "ExpressionAttributeValues": {":orphaned": orphaned},
            }
        return {
            "ConditionExpression": "attribute_not_exists(pk) OR "
            "(last_seen < :window_start AND finding_id <> :finding)",
            "ExpressionAttributeValues": {
                ":window_start": self.window_start,
                ":finding": self.alert.finding_id,
            },
        }

    def _incident_exists(self, incident_id: str) -> dict[str, Any]:
        # Checked, not written: DynamoDB charges a write by the item's size, and the incident holds the alert.
        return {
            "ConditionCheck": {
                **self._key({"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK}),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }

    def _slid_storm(self, storm: dict[str, Any], incident_id: str) -> dict[str, Any]:
        assert self.storm_key is not None
        return {
            **self.storm_key,
            "incident_id": incident_id,
            "first_seen": int(storm.get("first_seen", self.now)),
            "last_seen": self.now,
            "last_execution": self.execution_id,
            "expires_at": self.now + self.window_seconds + CLAIM_RETENTION_SECONDS,
        }

    def _storm_write(self, slid: dict[str, Any], incident_id: str, *, live: bool) -> dict[str, Any]:
        """The storm's claim slides and names this alert as the last to fold in (written whole: a put
        costs less than an update)."""
        condition = "incident_id = :incident" + (" AND last_seen >= :window_start" if live else "")
        values: dict[str, Any] = {":incident": incident_id}
        if live:
            values[":window_start"] = self.window_start
        return {
            "Put": {
                **self._put(slid),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _resource_id(self) -> str:
        resource = self.alert.primary_resource
        return resource.id if resource else self.alert.type

    def _resource(self, incident_id: str) -> dict[str, Any]:
        """The alert's resource on the incident's list: what it is and when it was first seen (its claim
        counts the copies, and says when the last came)."""
        resource = self.alert.primary_resource
        item = {
            "pk": store.incident_pk(incident_id),
            "sk": store.RESOURCE_PREFIX + self.keys.dedup,
            "resource_type": resource.type if resource else "Alert",
            "resource_id": self._resource_id(),
            "account": self.alert.account,
            "region": (resource.region if resource else None) or self.alert.region,
            "title": self.alert.title,
            "finding_id": self.alert.finding_id,
            "dedup_key": self.keys.dedup,
            "first_seen": self.at,
        }
        return {"Put": self._put(item)}

    def _marker(self, answer: IncidentRef) -> dict[str, Any]:
        marker = {
            "pk": self.claim_key["pk"],
            "sk": f"EXECUTION#{self.execution_id}",
            **answer.model_dump(exclude_none=True),
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
