"""Approval items (``APPROVAL#<id>`` / ``APPROVAL``): the server-side half of a Slack button.

An approval holds the Step Functions task token under an opaque random id; only the id goes to Slack.
``status`` moves from ``pending`` to ``approved``/``denied``/``expired`` through conditional writes, so a
decision is taken exactly once however many people click, however often Slack retries. ``approvals`` is
the set of distinct people who approved; an approval that needs two of them (the two-person rule) stays
pending, its set growing by conditional writes, until the last required approver's write also moves the
status. A release approval (``kind`` ``release``) has no token: it is offered on the closed incident's
card and, once approved, starts the release workflow; it keeps the card's closing state (``final``) to
re-render it. An acknowledgement (``kind`` ``acknowledge``) is the same claim on the card of an incident
that nothing was done for: approving it records who took the incident, and runs nothing.
A folded resource of a storm (docs/dedup-and-correlation.md) waits under an approval of its own, created
before its workflow waits (so without a token until then: ``renew_token`` hands it over). Its storm's
summary offers it, with the others waiting then, under one ``batch`` approval (``members``: their ids;
``sections``: the message's text, to re-render it): deciding the batch decides each member once, through the
same conditional write as any other approval (``decide_member``).
Timestamps are ISO 8601 UTC strings of one fixed width (``store.iso``), so DynamoDB compares them
correctly as strings. ``deadline`` is when the approval stops taking decisions; ``expires_at`` (epoch
seconds, the table's TTL) is the deadline plus the retention. The task token is erased as soon as the
workflow stops waiting for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from tourniquet import store
from tourniquet.approval.card import FinalState
from tourniquet.approval.model import ApprovalKind, ApprovalRequest, ApprovalStatus, CardContext
from tourniquet.settings import get_settings

SK = "APPROVAL"
# A release is approved through the same single-use path as containment; the one action it runs.
RELEASE_ACTIONS = ("release",)
# Acknowledging runs nothing: it records who took the incident, once.
ACKNOWLEDGE_ACTIONS = ("acknowledge",)
_FINAL: TypeAdapter[FinalState] = TypeAdapter(FinalState)
# Keys one BatchGetItem request reads.
_BATCH_GET = 100


def _key(approval_id: str) -> dict[str, str]:
    return {"pk": f"APPROVAL#{approval_id}", "sk": SK}


@dataclass(frozen=True)
class Approval:
    approval_id: str
    incident_id: str
    status: ApprovalStatus
    actions: tuple[str, ...]
    requested_at: str
    deadline: str
    execution_id: str
    card: CardContext
    task_token: str = field(repr=False)
    decided_by: str | None = None
    decided_at: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    required_approvals: int = 1
    approvals: tuple[str, ...] = ()
    kind: ApprovalKind = ApprovalKind.CONTAIN
    final: FinalState | None = None
    members: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    # A storm's folded resource's approval, and the batch that first offered it in the storm's thread.
    folded: bool = False
    offered_in: str | None = None
    # A folded resource's expiry is on the timeline (ExpireFoldedApproval writes it once, however retried).
    expiry_recorded: bool = False

    @property
    def approvals_missing(self) -> int:
        return max(self.required_approvals - len(self.approvals), 0)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Approval:
        return cls(
            approval_id=item["approval_id"],
            incident_id=item["incident_id"],
            status=ApprovalStatus(item["status"]),
            actions=tuple(item.get("actions", ())),
            requested_at=item["requested_at"],
            deadline=item["deadline"],
            execution_id=item.get("execution_id", ""),
            card=CardContext.model_validate_json(item["card"]),
            task_token=item.get("task_token", ""),
            decided_by=item.get("decided_by"),
            decided_at=item.get("decided_at"),
            slack_channel=item.get("slack_channel"),
            slack_ts=item.get("slack_ts"),
            # Items written before the two-person rule need one approver.
            required_approvals=int(item.get("required_approvals", 1)),
            approvals=tuple(sorted(item.get("approvals", ()))),
            kind=ApprovalKind(item.get("kind", ApprovalKind.CONTAIN.value)),
            final=_FINAL.validate_json(item["final"]) if item.get("final") else None,
            members=tuple(item.get("members", ())),
            sections=tuple(str(section) for section in item.get("sections", ())),
            folded=bool(item.get("folded", False)),
            offered_in=item.get("offered_in"),
            expiry_recorded=bool(item.get("expiry_recorded", False)),
        )


def create(request: ApprovalRequest, required_approvals: int = 1) -> Approval:
    """Store a new pending approval for the workflow waiting on ``request``'s task token."""
    return _create_contain(request.context(), request.task_token, required_approvals, folded=False)


def create_waiting(ctx: CardContext, required_approvals: int = 1) -> Approval:
    """Store a new pending approval whose workflow will wait for it later (a storm's folded resource): it
    takes decisions at once, and the workflow's token when it starts waiting (``renew_token``)."""
    return _create_contain(ctx, "", required_approvals, folded=True)


def _create_contain(ctx: CardContext, task_token: str, required_approvals: int, *, folded: bool) -> Approval:
    now = store.now()
    approval = Approval(
        approval_id=secrets.token_urlsafe(16),
        incident_id=ctx.incident.id,
        status=ApprovalStatus.PENDING,
        actions=ctx.plan.approval,
        requested_at=store.iso(now),
        deadline=store.iso(now + timedelta(seconds=ctx.plan.approval_timeout_seconds)),
        execution_id=ctx.execution_id,
        card=ctx,
        task_token=task_token,
        required_approvals=required_approvals,
        folded=folded,
    )
    _put_new(approval)
    return approval


def create_batch(members: Sequence[Approval], sections: Sequence[str]) -> Approval:
    """Store one pending decision on ``members`` (pending approvals of one incident's folded resources,
    sharing their playbook's approvers): the strictest two-person rule of theirs, until the last deadline."""
    first = members[0]
    approval = Approval(
        approval_id=secrets.token_urlsafe(16),
        incident_id=first.incident_id,
        status=ApprovalStatus.PENDING,
        actions=tuple(dict.fromkeys(action for member in members for action in member.actions)),
        requested_at=store.iso(),
        deadline=max(member.deadline for member in members),
        execution_id=first.execution_id,
        card=first.card,
        task_token="",
        required_approvals=max(member.required_approvals for member in members),
        kind=ApprovalKind.BATCH,
        members=tuple(member.approval_id for member in members),
        sections=tuple(sections),
    )
    _put_new(approval)
    return approval


def create_release(
    ctx: CardContext, final: FinalState, *, deadline: str, required_approvals: int = 1
) -> Approval:
    """Store a pending release approval for a closed incident (no task token: nothing waits for it)."""
    return _create_offer(ctx, final, ApprovalKind.RELEASE, deadline=deadline, required=required_approvals)


def create_acknowledgement(ctx: CardContext, final: FinalState, *, deadline: str) -> Approval:
    """Store the Acknowledge button's single-use claim for an incident nothing was done for."""
    return _create_offer(ctx, final, ApprovalKind.ACKNOWLEDGE, deadline=deadline, required=1)


def _create_offer(
    ctx: CardContext, final: FinalState, kind: ApprovalKind, *, deadline: str, required: int
) -> Approval:
    approval = Approval(
        approval_id=secrets.token_urlsafe(16),
        incident_id=ctx.incident.id,
        status=ApprovalStatus.PENDING,
        actions=ACKNOWLEDGE_ACTIONS if kind is ApprovalKind.ACKNOWLEDGE else RELEASE_ACTIONS,
        requested_at=store.iso(),
        deadline=deadline,
        execution_id=ctx.execution_id,
        card=ctx,
        task_token="",
        required_approvals=required,
        kind=kind,
        final=final,
    )
    _put_new(approval)
    return approval


def _put_new(approval: Approval) -> None:
    """Write a new approval; the conditional put guarantees a fresh id never overwrites another."""
    item: dict[str, Any] = {
        **_key(approval.approval_id),
        "approval_id": approval.approval_id,
        "incident_id": approval.incident_id,
        "kind": approval.kind.value,
        "status": approval.status.value,
        "actions": list(approval.actions),
        "requested_at": approval.requested_at,
        "deadline": approval.deadline,
        "expires_at": store.epoch(approval.deadline) + get_settings().retention_seconds,
        "execution_id": approval.execution_id,
        # JSON, not a map: diagnostics may hold floats, which DynamoDB only takes as Decimal.
        "card": approval.card.model_dump_json(),
        "required_approvals": approval.required_approvals,
    }
    if approval.task_token:
        item["task_token"] = approval.task_token
    if approval.final is not None:
        item["final"] = _FINAL.dump_json(approval.final).decode()
    if approval.members:
        item["members"] = list(approval.members)
        item["sections"] = list(approval.sections)
    if approval.folded:
        item["folded"] = True
    store.table().put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")


def get(approval_id: str) -> Approval | None:
    item = store.table().get_item(Key=_key(approval_id), ConsistentRead=True).get("Item")
    return Approval.from_item(store.plain(item)) if item else None


def get_many(approval_ids: Sequence[str]) -> list[Approval]:
    """The approvals of these ids that exist, in the order given."""
    table = store.table()
    found: dict[str, Approval] = {}
    keys = [_key(approval_id) for approval_id in dict.fromkeys(approval_ids)]
    for start in range(0, len(keys), _BATCH_GET):
        chunk = keys[start : start + _BATCH_GET]
        request: dict[str, Any] = {table.name: {"Keys": chunk, "ConsistentRead": True}}
        while request:
            response = table.meta.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table.name, []):
                approval = Approval.from_item(store.plain(item))
                found[approval.approval_id] = approval
            request = response.get("UnprocessedKeys") or {}
    return [found[approval_id] for approval_id in approval_ids if approval_id in found]


def mark_offered(approval_id: str, batch_id: str) -> None:
    """A folded resource's approval is on a posted summary: its workflow stops asking for one."""
    store.table().update_item(
        Key=_key(approval_id),
        UpdateExpression="SET offered_in = if_not_exists(offered_in, :batch)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":batch": batch_id},
    )


def decide_member(member_id: str, batch: Approval) -> Approval | None:
    """Take the decided ``batch``'s decision on one of its members, if that one is still pending and
    unexpired now (its own deadline: a click on a batch decided earlier decides nothing after it); None if
    it was decided or expired meanwhile: nothing is decided twice."""
    update = "SET #status = :status, decided_by = :by, decided_at = :at, decided_in = :batch"
    values: dict[str, Any] = {
        ":status": batch.status.value,
        ":by": batch.decided_by,
        ":at": batch.decided_at,
        ":batch": batch.approval_id,
        ":incident": batch.incident_id,
        ":now": store.iso(),
    }
    if batch.status is ApprovalStatus.APPROVED:
        update += ", approvals = :approvers"
        values[":approvers"] = set(batch.approvals)
    return _update_if(
        member_id, update, "#status = :pending AND deadline > :now AND incident_id = :incident", values
    )


def expire_waiting(approval_id: str) -> Approval | None:
    """Nobody decided in time: the pending approval expires (its token erased); None if it was decided."""
    return _update_if(
        approval_id,
        "SET #status = :expired REMOVE task_token",
        "#status = :pending",
        {":expired": ApprovalStatus.EXPIRED.value},
    )


def mark_expiry_recorded(approval_id: str) -> None:
    store.table().update_item(
        Key=_key(approval_id),
        UpdateExpression="SET expiry_recorded = :yes",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":yes": True},
    )


def set_message(approval_id: str, channel: str, ts: str) -> None:
    store.table().update_item(
        Key=_key(approval_id),
        UpdateExpression="SET slack_channel = :channel, slack_ts = :ts",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":channel": channel, ":ts": ts},
    )


def claim_denial(approval_id: str, by: str, at: str) -> Approval | None:
    """Move a pending, unexpired approval to denied (one approver's deny decides); None if too late."""
    return _update_if(
        approval_id,
        "SET #status = :status, decided_by = :by, decided_at = :at",
        "#status = :pending AND deadline > :at",
        {":status": ApprovalStatus.DENIED.value, ":by": by, ":at": at},
    )


def add_approval(current: Approval, by: str, at: str) -> Approval | None:
    """Add ``by`` to the approvers of ``current``; when that makes enough, the approval is approved too.

    The write is conditioned on the set still being the one the caller read (same size, ``by`` not in it), so
    two people clicking at once never both complete it, nor both count as the last. None means it changed
    meanwhile (read it again), or it is no longer pending and unexpired.
    """
    update = "ADD approvals :by_set"
    values: dict[str, Any] = {":by_set": {by}, ":at": at, ":count": len(current.approvals)}
    if len(current.approvals) + 1 >= current.required_approvals:
        update += " SET #status = :status, decided_by = :by, decided_at = :at"
        values.update({":status": ApprovalStatus.APPROVED.value, ":by": by})
    if current.approvals:
        unchanged = "size(approvals) = :count AND NOT contains(approvals, :by)"
        values[":by"] = by
    else:
        # An empty set is no attribute at all in DynamoDB.
        unchanged = "(attribute_not_exists(approvals) OR size(approvals) = :count)"
    return _update_if(
        current.approval_id, update, f"#status = :pending AND deadline > :at AND {unchanged}", values
    )


def _update_if(approval_id: str, update: str, condition: str, values: dict[str, Any]) -> Approval | None:
    try:
        response = store.table().update_item(
            Key=_key(approval_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": ApprovalStatus.PENDING.value, **values},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if store.is_conditional_failure(exc):
            return None
        raise
    return Approval.from_item(store.plain(response["Attributes"]))


def renew_token(approval_id: str, task_token: str, at: str) -> Approval | None:
    """Hand a still-pending approval the workflow's next task token (after the reminder; or a folded
    resource's first, when its workflow starts waiting); None if it was decided or expired."""
    return _update_if(
        approval_id,
        "SET task_token = :token",
        "#status = :pending AND deadline > :at",
        {":token": task_token, ":at": at},
    )


def release(approval: Approval) -> None:
    """Undo a claim whose decision could not be delivered, so that it can be taken again.

    An approval also takes back the last approver's vote, so that they can click again.
    """
    update = "SET #status = :pending REMOVE decided_by, decided_at"
    values: dict[str, Any] = {
        ":pending": ApprovalStatus.PENDING.value,
        ":status": approval.status.value,
        ":by": approval.decided_by,
        ":at": approval.decided_at,
    }
    if approval.status is ApprovalStatus.APPROVED:
        update += " DELETE approvals :by_set"
        values[":by_set"] = {approval.decided_by}
    store.table().update_item(
        Key=_key(approval.approval_id),
        UpdateExpression=update,
        ConditionExpression="#status = :status AND decided_by = :by AND decided_at = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
    )


def erase_token(approval_id: str) -> None:
    """The workflow stopped waiting for this approval's token: nothing may use it again."""
    try:
        store.table().update_item(
            Key=_key(approval_id),
            UpdateExpression="REMOVE task_token",
            ConditionExpression="attribute_exists(pk)",
        )
    except ClientError as exc:
        if not store.is_conditional_failure(exc):
            raise


def expire(approval: Approval) -> Approval:
    """The workflow no longer waits for this token: the claimed decision did not take effect."""
    response = store.table().update_item(
        Key=_key(approval.approval_id),
        UpdateExpression="SET #status = :expired REMOVE task_token",
        ConditionExpression="#status = :status AND decided_by = :by AND decided_at = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":expired": ApprovalStatus.EXPIRED.value,
            ":status": approval.status.value,
            ":by": approval.decided_by,
            ":at": approval.decided_at,
        },
        ReturnValues="ALL_NEW",
    )
    return Approval.from_item(store.plain(response["Attributes"]))
