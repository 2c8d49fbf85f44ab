"""A storm's folded resources that wait for a person (docs/dedup-and-correlation.md).

A folded alert whose plan has approval-gated steps registers an approval of its own for its resource
(RegisterFoldedApproval) before it asks for the storm's summary, so that the summary it asks for (or an
earlier one's successor) offers it. Its resource's item names the approval (``approval_id`` on
``RESOURCE#<dedup key>``): that is how a summary finds every approval waiting in its incident. The alert's
workflow then waits under its own token (AwaitFoldedDecision) until a person decides, with the summary's
buttons or ``tourniquet approve INCIDENT --resource ID``, or until it expires (ExpireFoldedApproval).
"""

from __future__ import annotations

import math
from datetime import timedelta

from botocore.exceptions import ClientError

from tourniquet import escalation, store
from tourniquet.approval import decisions, records, requests
from tourniquet.approval.model import ApprovalStatus, CardContext
from tourniquet.approval.records import Approval
from tourniquet.logs import logger
from tourniquet.state import ApprovalResult, FoldedOffer, IncidentRef

# How long an un-offered resource's alert keeps asking for a summary: each round adds events to its
# workflow's history, which Step Functions bounds (25,000).
OFFER_WINDOW_SECONDS = 1800


def register(ctx: CardContext) -> Approval:
    """The folded resource's approval: a new one, or the one a retried step already registered."""
    incident_id = ctx.incident.id
    key = _resource_key(ctx.incident)
    registered = _registered(key, ctx.execution_id)
    if registered is not None:
        return registered
    approval = records.create_waiting(ctx, requests.required_approvals(ctx.plan.approval))
    store.table().update_item(
        Key=key,
        UpdateExpression="SET approval_id = :approval",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":approval": approval.approval_id},
    )
    store.append_event(
        incident_id,
        "folded_approval_requested",
        approval_id=approval.approval_id,
        target=ctx.plan.target.id,
        actions=list(approval.actions),
        deadline=approval.deadline,
        required_approvals=approval.required_approvals,
        execution_id=ctx.execution_id,
    )
    logger.info("folded resource's approval registered", extra={"actions": list(approval.actions)})
    return approval


def _registered(key: dict[str, str], execution_id: str) -> Approval | None:
    """The approval this execution registered for the resource, if it did."""
    resource = store.plain(store.table().get_item(Key=key, ConsistentRead=True).get("Item") or {})
    registered = records.get(str(resource["approval_id"])) if resource.get("approval_id") else None
    return registered if registered is not None and registered.execution_id == execution_id else None


def _resource_key(incident: IncidentRef) -> dict[str, str]:
    if not incident.dedup_key:
        raise ValueError(f"incident {incident.id}: a folded alert without its dedup key")
    return {"pk": store.incident_pk(incident.id), "sk": f"{store.RESOURCE_PREFIX}{incident.dedup_key}"}


def abandon(incident: IncidentRef, execution_id: str) -> None:
    """AbandonFoldedApproval: the alert's workflow fails before its decision reached it (a step between
    registering and waiting failed), so its approval expires: no summary offers it, and no click can take a
    decision that nothing would run."""
    registered = _registered(_resource_key(incident), execution_id)
    abandoned = records.expire_waiting(registered.approval_id) if registered is not None else None
    if abandoned is None:
        return
    store.append_event(
        incident.id,
        "folded_approval_abandoned",
        approval_id=abandoned.approval_id,
        target=abandoned.card.plan.target.id,
        actions=list(abandoned.actions),
    )
    logger.warning("folded resource's approval abandoned: its workflow failed")


def waiting(incident_id: str) -> list[Approval]:
    """The folded resources' approvals of the incident that still take a decision, the first seen first."""
    at = store.iso()
    items = sorted(store.resource_items(incident_id), key=lambda item: str(item.get("first_seen", "")))
    ids = [str(item["approval_id"]) for item in items if item.get("approval_id")]
    return [a for a in records.get_many(ids) if a.status is ApprovalStatus.PENDING and a.deadline > at]


def awaiting_summary(approval_id: str) -> bool:
    """Whether the folded alert must still ask for a summary: its approval takes decisions, no posted
    summary offered it yet, and it has asked for less than :data:`OFFER_WINDOW_SECONDS` (then it waits for a
    summary that others ask for, or the CLI, so that its workflow's history stays bounded)."""
    approval = records.get(approval_id)
    now = store.now()
    return (
        approval is not None
        and approval.status is ApprovalStatus.PENDING
        and approval.deadline > store.iso(now)
        and approval.offered_in is None
        and approval.requested_at > store.iso(now - timedelta(seconds=OFFER_WINDOW_SECONDS))
    )


def offer_state(approval_id: str, posted: bool) -> FoldedOffer:
    """OfferFoldedApproval's result: whether to ask again, and how long the wait may last (until the
    approval's deadline, not a whole timeout from now)."""
    approval = records.get(approval_id)
    left = store.epoch(approval.deadline) - store.now().timestamp() if approval is not None else 0
    return FoldedOffer(
        posted=posted, awaiting_summary=awaiting_summary(approval_id), wait_seconds=max(math.ceil(left), 1)
    )


def wait(approval_id: str, task_token: str) -> None:
    """AwaitFoldedDecision: wait under the workflow's token; or hand over a decision already taken
    (:class:`~tourniquet.errors.ApprovalExpired` when nobody decided in time)."""
    if records.renew_token(approval_id, task_token, store.iso()) is None:
        decisions.deliver_taken(approval_id, task_token)
        return
    logger.info("waiting for a decision on the folded resource")


def expire(approval_id: str) -> ApprovalResult:
    """ExpireFoldedApproval: nobody decided in time. The approval expires (on the timeline, with its
    resource) and the first expiry of the incident's folded resources pages the escalation topic. A retried
    step finds it expired already and finishes what the first try did not (the event, the page)."""
    expired = records.expire_waiting(approval_id)
    if expired is None:
        current = records.get(approval_id)
        expired = current if current is not None and current.status is ApprovalStatus.EXPIRED else None
    if expired is not None:
        if not expired.expiry_recorded:
            store.append_event(
                expired.incident_id,
                "folded_approval_expired",
                approval_id=approval_id,
                target=expired.card.plan.target.id,
                actions=list(expired.actions),
            )
            records.mark_expiry_recorded(approval_id)
        _page_first_expiry(expired)
        logger.warning("folded resource's approval expired", extra={"actions": list(expired.actions)})
    return ApprovalResult(decision="expired", approval_id=approval_id)


def _page_first_expiry(expired: Approval) -> None:
    """One page per incident, however many of its folded resources expire: they expire together, and the
    timeline has each one. If the page cannot go out (whatever the error) the mark is taken back, so that a
    retry pages."""
    key = {"pk": store.incident_pk(expired.incident_id), "sk": store.INCIDENT_SK}
    table = store.table()
    try:
        table.update_item(
            Key=key,
            UpdateExpression="SET folded_expiry_paged_at = :at",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(folded_expiry_paged_at)",
            ExpressionAttributeValues={":at": store.iso()},
        )
    except ClientError as exc:
        if store.is_conditional_failure(exc):
            return
        raise
    alert = expired.card.alert
    try:
        escalation.publish(
            f"Tourniquet: folded resource's approval expired ({alert.severity.value}) {expired.incident_id}",
            {
                "event": "folded_approval_expired",
                "incident_id": expired.incident_id,
                "approval_id": expired.approval_id,
                "severity": alert.severity.value,
                "resource": expired.card.plan.target.id,
                "pending_actions": list(expired.actions),
                "execution_id": expired.execution_id,
                "timeline": f"tourniquet incident show {expired.incident_id}",
            },
        )
    except Exception:
        table.update_item(Key=key, UpdateExpression="REMOVE folded_expiry_paged_at")
        raise
