"""A storm's incident: the resources it lists, and when its thread hears of the alerts that folded in.

The rule that bounds the thread (docs/dedup-and-correlation.md): each alert that folds into a storm's
incident (another problem, or a copy of one) waits for the storm to settle (the workflow's SettleFold state,
:data:`SETTLE_SECONDS`), then asks for a summary. One goes out, in the card's thread, when the asking alert
is still the last that folded in (nothing joined while it waited), or when the last summary is older than
:data:`SUMMARY_INTERVAL_SECONDS` (a storm that never pauses). A compare-and-set of the storm's summary item
(``STORM#<key>``, ``SUMMARY``; with a check of the storm's claim for the last alert) lets exactly one alert
post each summary: a group of 100 alerts delivered at once makes one thread reply.

A folded alert whose resource waits for a person (``tourniquet.approval.members``) asks again after each
settle until a posted summary offered its approval (for at most ``members.OFFER_WINDOW_SECONDS``); it may
post one itself once the last summary is older than the settle time, so that no waiting resource goes
unoffered, and still at most one summary a settle time goes out while they wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.incidents.dedup import CLAIM_SK, STORM_SK, SUMMARY_SK
from tourniquet.slack import mrkdwn
from tourniquet.state import IncidentRef

# The SettleFold state's wait (statemachines/incident_response.asl.json).
SETTLE_SECONDS = 30
SUMMARY_INTERVAL_SECONDS = 600
# Keys one BatchGetItem request reads.
_BATCH = 100
# Resources named in one message; the rest are counted, and `tourniquet incident show` lists them all.
LISTED = 10


@dataclass(frozen=True)
class AffectedResource:
    """One resource of an incident, and how many alerts named it."""

    type: str
    id: str
    account: str
    region: str
    alerts: int
    first_seen: str
    last_seen: str

    def line(self) -> str:
        count = f"{self.alerts} alert" + ("s" if self.alerts != 1 else "")
        return f"{self.id} ({self.type}, {self.account} {self.region}) · {count}"


def resources(incident_id: str) -> list[AffectedResource]:
    """Every resource the incident's alerts named, the first seen first; its count of alerts and when the
    last came as its claim says, while the claim is this incident's (then, one alert)."""
    items = store.resource_items(incident_id)
    claims = _claims([str(item.get("dedup_key", "")) for item in items])
    found = []
    for item in items:
        claim = claims.get(str(item.get("dedup_key", "")), {})
        ours = claim.get("incident_id") == incident_id
        first_seen = str(item.get("first_seen", ""))
        found.append(
            AffectedResource(
                type=str(item.get("resource_type", "")),
                id=str(item.get("resource_id", "")),
                account=str(item.get("account", "")),
                region=str(item.get("region", "")),
                alerts=int(claim.get("duplicates", 0)) + 1 if ours else 1,
                first_seen=first_seen,
                last_seen=str(claim.get("last_seen_at") or first_seen) if ours else first_seen,
            )
        )
    return sorted(found, key=lambda resource: (resource.first_seen, resource.id))


def _claims(dedup_keys: list[str]) -> dict[str, dict[str, Any]]:
    """The dedup claims of these keys, by key (in batches of the most one request reads)."""
    table = store.table()
    found: dict[str, dict[str, Any]] = {}
    keys = [{"pk": f"DEDUP#{key}", "sk": CLAIM_SK} for key in dict.fromkeys(filter(None, dedup_keys))]
    for start in range(0, len(keys), _BATCH):
        request: dict[str, Any] = {table.name: {"Keys": keys[start : start + _BATCH], "ConsistentRead": True}}
        while request:
            response = table.meta.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table.name, []):
                claim = store.plain(item)
                found[str(claim["pk"]).removeprefix("DEDUP#")] = claim
            request = response.get("UnprocessedKeys") or {}
    return found


def resources_for_card(incident: IncidentRef) -> list[AffectedResource]:
    """The resources, for the card that lists them: the storm's next summary tells only what comes after."""
    listed_at = store.iso()
    found = resources(incident.id)
    if incident.correlation_key and len(found) > 1:
        try:
            store.table().update_item(
                Key={"pk": f"STORM#{incident.correlation_key}", "sk": SUMMARY_SK},
                UpdateExpression="SET summarized_at = :listed",
                ConditionExpression="incident_id = :incident AND summarized_at < :listed",
                ExpressionAttributeValues={":listed": listed_at, ":incident": incident.id},
            )
        except ClientError as exc:
            if not store.is_conditional_failure(exc):
                raise
    return found


@dataclass(frozen=True)
class Summary:
    """What a storm's thread hears: the resources that joined or were seen again since the last summary."""

    incident_id: str
    resources: tuple[AffectedResource, ...]
    since: str
    # How containment ended on folded resources, automatically or once approved, the latest first:
    # target id -> each action as told (its name, and how it ended unless done and verified).
    contained: dict[str, tuple[str, ...]]

    @property
    def joined(self) -> list[AffectedResource]:
        return [resource for resource in self.resources if resource.first_seen > self.since]

    @property
    def seen_again(self) -> list[AffectedResource]:
        return [r for r in self.resources if r.first_seen <= self.since < r.last_seen]


def claim_summary(
    incident: IncidentRef, execution_id: str, *, unoffered: bool = False, ran: bool = False
) -> Summary | None:
    """The summary this alert posts, or None when another alert's summary will tell (or already told).

    ``unoffered``: the alert's resource waits for a person and no posted summary offered it yet. ``ran``:
    its resource's approved steps ran a settle time ago; a summary claimed since then tells them, so it
    posts only when none was."""
    if not incident.correlation_key:
        return None
    table = store.table()
    key = f"STORM#{incident.correlation_key}"
    item = store.plain(
        table.get_item(Key={"pk": key, "sk": SUMMARY_SK}, ConsistentRead=True).get("Item") or {}
    )
    if item.get("incident_id") != incident.id:
        return None
    previous = str(item.get("summarized_at", ""))
    now = store.now()
    settled = (unoffered or ran) and previous < store.iso(now - timedelta(seconds=SETTLE_SECONDS))
    if ran and not settled:
        return None
    # A retried step finds its own summary taken: it posts nothing more.
    if item.get("summarized_by") == execution_id and not settled:
        return None
    # Compare and set: of the alerts that may post this summary, one does.
    update = {
        "TableName": table.name,
        "Key": {"pk": key, "sk": SUMMARY_SK},
        "UpdateExpression": "SET summarized_at = :now, summarized_by = :execution",
        "ConditionExpression": "incident_id = :incident AND summarized_at = :previous",
        "ExpressionAttributeValues": {
            # ISO times in one format compare as text, as the resources' times they are compared with.
            ":now": store.iso(now),
            ":execution": execution_id,
            ":incident": incident.id,
            ":previous": previous,
        },
    }
    if settled or previous < store.iso(now - timedelta(seconds=SUMMARY_INTERVAL_SECONDS)):
        # A resource still not offered a settle time on, or a storm that never paused: the first alert to
        # ask.
        writes = [{"Update": update}]
    else:
        # The storm settled: the last alert that folded in, as its claim names it.
        last = {
            "TableName": table.name,
            "Key": {"pk": key, "sk": STORM_SK},
            "ConditionExpression": "incident_id = :incident AND last_execution = :execution",
            "ExpressionAttributeValues": {":incident": incident.id, ":execution": execution_id},
        }
        writes = [{"ConditionCheck": last}, {"Update": update}]
    try:
        table.meta.client.transact_write_items(TransactItems=writes)
    except ClientError as exc:
        if aws.error_code(exc) == "TransactionCanceledException":
            return None
        raise
    return Summary(
        incident_id=incident.id,
        resources=tuple(resources(incident.id)),
        since=previous,
        contained=_folded_containment(incident.id),
    )


def _folded_containment(incident_id: str) -> dict[str, tuple[str, ...]]:
    """From the timeline: how containment ended on each resource that folded in (automatic steps, and those
    a person approved), the latest first. The resource of the alert that opened the incident is the card's,
    and left out. (The steps that wait for a person are offered with the summary's buttons:
    ``tourniquet.approval.batches``.)"""
    alert = (store.get_incident(incident_id) or {}).get("alert")
    resources = alert.get("resources") if isinstance(alert, dict) else None
    own = resources[0].get("id") if resources and isinstance(resources[0], dict) else None
    done: dict[str, dict[str, str]] = {}
    for event in reversed(store.timeline(incident_id)):
        target = _target_id(event)
        if target is None or target == own or event.get("kind") != "action":
            continue
        status, action = event.get("status"), str(event.get("action"))
        if status == "done":
            told = action if event.get("verified") else f"{action} (not verified)"
        elif status in _REFUSED:
            told = f"{action} ({status})"
        else:
            continue
        done.setdefault(target, {}).setdefault(action, told)
    return {target: tuple(reversed(actions.values())) for target, actions in done.items()}


# Besides what was done (verified or not), the results a summary tells: nothing to do, or refused and why.
_REFUSED = frozenset({"unchanged", "refused", "skipped_protected"})


def _target_id(event: dict[str, Any]) -> str | None:
    target = event.get("target")
    return str(target.get("id")) if isinstance(target, dict) and target.get("id") else None


def listing(found: Sequence[AffectedResource], incident_id: str) -> list[str]:
    """Up to :data:`LISTED` resources, one line each, and how many more there are (as Slack mrkdwn; resource
    ids come from alerts, so each is code, never markup)."""
    lines = [f"• {mrkdwn.code(resource.line())}" for resource in found[:LISTED]]
    if len(found) > LISTED:
        command = mrkdwn.code(f"tourniquet incident show {incident_id}")
        lines.append(f"…and {len(found) - LISTED} more: {command}")
    return lines
