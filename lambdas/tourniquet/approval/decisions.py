"""Taking a decision: single-use, then delivered to the waiting workflow.

The conditional claim (pending and unexpired → approved/denied) is what makes a decision single-use; a valid
Slack signature proves who sent a click, not that it is the first. Only after the claim is the token used.
Under the two-person rule an approval only counts the approver until enough different people have approved;
the write that adds the last of them is the claim. One deny decides. Callers (the Slack interaction, the CLI)
authorize the person first. An approved release starts the release workflow instead of answering a token.

A storm's folded resources are decided together through a ``batch`` approval (the buttons of the storm's
summary): claimed like any other, then its decision is taken on each member it names, each through its own
conditional write (so once, however often the click is retried), and delivered to that member's workflow.
A member whose workflow is not waiting yet keeps the decision until it does (``deliver_taken``).

The rule counts people, as far as identities can tell them apart (:func:`approver_identity`): a Slack user
by user id; an AWS caller (the CLI) by IAM principal, so every session of one role is one approver, since
whoever assumes a role names the session. A Slack user and an AWS principal cannot be shown to be different
people, so the approvals of one approval all come from Slack or all from AWS principals.
"""

from __future__ import annotations

import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.approval import records, updates
from tourniquet.approval.model import ApprovalKind, ApprovalStatus, Decision
from tourniquet.approval.records import Approval
from tourniquet.channels import CLICK, UpdateKind, deliver
from tourniquet.errors import ApprovalExpired
from tourniquet.logs import logger
from tourniquet.settings import get_settings
from tourniquet.state import ApprovalResult, IncidentRef, ReleaseInput

# The workflow no longer waits for this token: it timed out, finished or was never this account's.
_DEAD_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class Result(StrEnum):
    DECIDED = "decided"
    # Approved, but the two-person rule needs another, different approver before anything runs.
    PARTIAL = "partial"
    # This person's approval is already counted; a different approver is needed.
    ALREADY_APPROVED = "already_approved"
    UNKNOWN = "unknown"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    # Claimed, but the workflow had stopped waiting: the approval is now expired.
    TOO_LATE = "too_late"
    # The approval already counts an approver of the other kind (Slack user, AWS principal): not counted.
    MIXED_IDENTITIES = "mixed_identities"


@dataclass(frozen=True)
class Outcome:
    result: Result
    approval: Approval | None


class DecisionNotDelivered(Exception):
    """The decision could not be handed to the workflow; the claim was released, so it can be taken again."""


# A batch's members decided side by side (each a few round trips).
_PARALLEL_MEMBERS = 8
# Each lost race means another approver's write landed; a handful of rounds settles any real contention.
_ATTEMPTS = 5

# STS caller ARNs whose last part is chosen by the caller: a role session, a federated user.
_STS = r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):"
_ASSUMED_ROLE = re.compile(_STS + r"assumed-role/(?P<role>[^/]+)/.+")
_FEDERATED_USER = re.compile(_STS + r"federated-user/.+")


def approver_identity(identity: str) -> str:
    """Who ``identity`` counts as under the two-person rule.

    A role session (``arn:aws:sts::1:assumed-role/Role/alice``) counts as its role
    (``arn:aws:iam::1:role/Role``; the role's path is not in a session ARN, and a role's name is unique in
    its account). Every federated user of an account counts as one (``…:federated-user/*``): one IAM user
    can call GetFederationToken under any name. An IAM user, the root user and a Slack user id count as
    themselves.
    """
    role = _ASSUMED_ROLE.fullmatch(identity)
    if role is not None:
        return f"arn:{role['partition']}:iam::{role['account']}:role/{role['role']}"
    federated = _FEDERATED_USER.fullmatch(identity)
    if federated is not None:
        return f"arn:{federated['partition']}:sts::{federated['account']}:federated-user/*"
    return identity


def identity_kind(identity: str) -> Literal["aws", "slack"]:
    """An AWS principal (an ARN, from the CLI) or a Slack user id (from a click)."""
    return "aws" if identity.startswith("arn:") else "slack"


@dataclass(frozen=True)
class _Actor:
    """Who decides, as counted (``by``), and the session ARN it was normalized from, for the audit trail."""

    by: str
    session: str | None
    reason: str | None


def decide(approval_id: str, decision: Decision, by: str, reason: str | None = None) -> Outcome:
    """Take ``by``'s decision (already authorized by the caller). ``reason`` goes to the audit trail.

    ``by`` is a Slack user id or an AWS caller ARN; it is counted as :func:`approver_identity` says, and
    a caller ARN that differs from that is recorded on the timeline as ``session``.
    """
    at = store.iso()
    counted = approver_identity(by)
    actor = _Actor(counted, by if by != counted else None, reason)
    if decision is Decision.APPROVE:
        return _approve(approval_id, actor, at)
    claimed = records.claim_denial(approval_id, actor.by, at)
    if claimed is None:
        return _refused(approval_id, at)
    return _delivered(claimed, decision, actor)


def _approve(approval_id: str, actor: _Actor, at: str) -> Outcome:
    for _ in range(_ATTEMPTS):
        current = records.get(approval_id)
        if current is None:
            return Outcome(Result.UNKNOWN, None)
        if current.status is not ApprovalStatus.PENDING or current.deadline <= at:
            return _settled(current)
        if actor.by in current.approvals:
            return Outcome(Result.ALREADY_APPROVED, current)
        if any(identity_kind(other) != identity_kind(actor.by) for other in current.approvals):
            logger.warning("approval of the other identity kind refused", extra={"by": actor.by})
            return Outcome(Result.MIXED_IDENTITIES, current)
        updated = records.add_approval(current, actor.by, at)
        if updated is not None:
            return _counted(updated, actor)
    raise DecisionNotDelivered("the approval kept changing while deciding")


def _counted(updated: Approval, actor: _Actor) -> Outcome:
    if updated.status is ApprovalStatus.APPROVED:
        return _delivered(updated, Decision.APPROVE, actor)
    logger.append_keys(incident_id=updated.incident_id, approval_id=updated.approval_id)
    store.append_event(
        updated.incident_id,
        "partial_approval",
        actor=actor.by,
        session=actor.session,
        approval_id=updated.approval_id,
        approvals=len(updated.approvals),
        required=updated.required_approvals,
        reason=actor.reason,
    )
    logger.info("approval counted", extra={"by": actor.by, "approvals": len(updated.approvals)})
    return Outcome(Result.PARTIAL, updated)


def _delivered(claimed: Approval, decision: Decision, actor: _Actor) -> Outcome:
    logger.append_keys(incident_id=claimed.incident_id, approval_id=claimed.approval_id)
    if claimed.kind is ApprovalKind.RELEASE:
        return _release_started(claimed, actor)
    if claimed.kind is ApprovalKind.ACKNOWLEDGE:
        return _acknowledged(claimed, actor)
    if claimed.kind is ApprovalKind.BATCH:
        return _batch_decided(claimed, decision, actor)
    return _answered(claimed, decision, actor)


def _answered(claimed: Approval, decision: Decision, actor: _Actor, batch: Approval | None = None) -> Outcome:
    """The decision handed to the workflow that waits for it (or kept until it waits). ``batch``: the
    batch that decided this folded resource's approval (it tells the channels, once)."""
    if not claimed.task_token:
        # A folded resource's workflow that does not wait yet: it takes the decision when it starts waiting
        # (see deliver_taken), so the decision stands.
        _record_decision(claimed, decision, actor, batch)
        logger.info("decision kept until the workflow waits", extra={"decision": decision.value})
        return Outcome(Result.DECIDED, claimed)
    try:
        _deliver(claimed, decision, actor.reason)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "TaskTimedOut" and claimed.deadline > store.iso():
            # The workflow is between its two waits (at the reminder): it takes the decision under its
            # next token (see deliver_taken), so the decision stands.
            _record_decision(claimed, decision, actor, batch)
            logger.info("decision kept for the workflow's next wait", extra={"decision": decision.value})
            return Outcome(Result.DECIDED, claimed)
        if code in _DEAD_TOKEN_CODES:
            expired = records.expire(claimed)
            store.append_event(
                claimed.incident_id,
                "approval_expired",
                actor=actor.by,
                session=actor.session,
                approval_id=claimed.approval_id,
                decision=decision.value,
                error=code,
            )
            logger.warning("decision arrived after the workflow stopped waiting", extra={"error": code})
            return Outcome(Result.TOO_LATE, expired)
        records.release(claimed)
        raise DecisionNotDelivered(f"Step Functions refused the decision: {code or 'error'}") from exc
    _record_decision(claimed, decision, actor, batch)
    logger.info("decision delivered", extra={"decision": decision.value, "by": actor.by})
    if batch is None:
        verb = "Approved" if decision is Decision.APPROVE else "Denied"
        _tell_channels(claimed, actor, f"{verb} by {actor.by}: {', '.join(claimed.actions)}.")
    return Outcome(Result.DECIDED, claimed)


def _batch_decided(batch: Approval, decision: Decision, actor: _Actor) -> Outcome:
    """A storm's folded resources, decided together: recorded, taken on each member, told once."""
    _record_decision(batch, decision, actor)
    decided = _decide_members(batch, decision, actor)
    if decided:
        # Only what this decision reached: a member decided or expired meanwhile keeps its own fate.
        verb = "Approved" if decision is Decision.APPROVE else "Denied"
        resources = f"{decided} folded resource" + ("" if decided == 1 else "s")
        _tell_channels(batch, actor, f"{verb} by {actor.by}: {', '.join(batch.actions)} on {resources}.")
    return Outcome(Result.DECIDED, batch)


def _decide_members(batch: Approval, decision: Decision, actor: _Actor) -> int:
    """The decided batch's decision, on each member still pending and unexpired (a member decided or
    expired meanwhile keeps its own fate); how many took it. Raises :class:`DecisionNotDelivered` when a
    workflow could not take its decision: that member is pending again, and clicking again finishes the
    batch."""

    def decide_one(member_id: str) -> bool | None:
        member = records.decide_member(member_id, batch)
        if member is None:
            return None
        try:
            outcome = _answered(member, decision, actor, batch)
        except DecisionNotDelivered as exc:
            logger.error("folded resource's decision not delivered", extra={"error": str(exc)})
            return False
        return outcome.result is Result.DECIDED

    if not batch.members:
        return 0
    # Side by side: a storm's click decides many resources within the few seconds Slack waits.
    with ThreadPoolExecutor(max_workers=min(len(batch.members), _PARALLEL_MEMBERS)) as pool:
        results = list(pool.map(decide_one, batch.members))
    if False in results:
        raise DecisionNotDelivered(f"{results.count(False)} folded resources did not take the decision")
    return results.count(True)


def _acknowledged(claimed: Approval, actor: _Actor) -> Outcome:
    """Someone took an incident that nothing was done for: recorded on it, and told to every channel."""
    store.update_incident(claimed.incident_id, acknowledged_by=actor.by, acknowledged_at=claimed.decided_at)
    store.append_event(
        claimed.incident_id,
        "acknowledged",
        actor=actor.by,
        session=actor.session,
        approval_id=claimed.approval_id,
        reason=actor.reason,
    )
    logger.info("incident acknowledged", extra={"by": actor.by})
    _tell_channels(claimed, actor, f"Acknowledged by {actor.by}, who handles it from here.")
    return Outcome(Result.DECIDED, claimed)


def _tell_channels(claimed: Approval, actor: _Actor, summary: str) -> None:
    """The first human decision or acknowledgement, to the channels (PagerDuty acknowledges); in Slack the
    card itself shows it.

    A click has Slack's 3 s: one quick try each, and what fails is on the timeline; the outcome follows."""
    update = updates.from_card(
        claimed.card, UpdateKind.ACKNOWLEDGED, status="acknowledged", summary=summary, by=actor.by
    )
    deliver(update, CLICK)


def _release_started(claimed: Approval, actor: _Actor) -> Outcome:
    """Start the release workflow, named after the approval so that it runs once however often this is
    retried; if it cannot start, the claim is released so that the button can be clicked again."""
    arn = get_settings().release_state_machine_arn
    if not arn:
        records.release(claimed)
        raise DecisionNotDelivered("no release workflow is configured (RELEASE_STATE_MACHINE_ARN)")
    execution_input = ReleaseInput(
        incident=IncidentRef(id=claimed.incident_id),
        approval_id=claimed.approval_id,
        actor=actor.by,
        approvers=claimed.approvals,
    )
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=claimed.approval_id, input=json.dumps(execution_input.as_state())
        )
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            records.release(claimed)
            raise DecisionNotDelivered(f"the release workflow did not start: {aws.error_code(exc)}") from exc
    _record_decision(claimed, Decision.APPROVE, actor)
    logger.info("release started", extra={"by": actor.by})
    return Outcome(Result.DECIDED, claimed)


def _record_decision(
    claimed: Approval, decision: Decision, actor: _Actor, batch: Approval | None = None
) -> None:
    kind = "decision"
    detail: dict[str, Any] = {}
    if claimed.kind is ApprovalKind.BATCH:
        # The storm summary's decision: each resource it reaches has a decision of its own.
        kind, detail = "folded_decision", {"members": len(claimed.members)}
    elif claimed.folded:
        # A folded resource's decision names its resource, and the batch it was taken in (if any).
        detail = {"folded": True, "target": claimed.card.plan.target.id}
        if batch is not None:
            detail["batch_id"] = batch.approval_id
    store.append_event(
        claimed.incident_id,
        kind,
        actor=actor.by,
        session=actor.session,
        approval_id=claimed.approval_id,
        decision=decision.value,
        actions=list(claimed.actions),
        approvers=list(claimed.approvals) if decision is Decision.APPROVE else None,
        reason=actor.reason,
        **detail,
    )


def deliver_taken(approval_id: str, task_token: str) -> None:
    """Hand a decision taken while the workflow was between its waits to the workflow's current token.

    Raises :class:`ApprovalExpired` when nobody decided in time.
    """
    current = records.get(approval_id)
    if current is None or current.status not in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
        raise ApprovalExpired(f"approval {approval_id} was not decided in time")
    decision = Decision.APPROVE if current.status is ApprovalStatus.APPROVED else Decision.DENY
    _deliver(dataclasses.replace(current, task_token=task_token), decision, None)
    logger.info("decision delivered at the reminder", extra={"decision": decision.value})


def _refused(approval_id: str, at: str) -> Outcome:
    current = records.get(approval_id)
    if current is None:
        return Outcome(Result.UNKNOWN, None)
    if current.status is ApprovalStatus.PENDING and current.deadline > at:
        # Still pending and unexpired, so the claim lost a race that has since been undone: ask to try again.
        raise DecisionNotDelivered("the approval changed while deciding")
    return _settled(current)


def _settled(current: Approval) -> Outcome:
    """Why a decision on an approval that is no longer pending-and-unexpired changed nothing.

    A decided batch is finished first: members its decision did not reach (the click's run ended early, or
    a workflow could not take it) take it now, the decision of whoever decided the batch."""
    if current.status in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
        if current.kind is ApprovalKind.BATCH:
            decided = Decision.APPROVE if current.status is ApprovalStatus.APPROVED else Decision.DENY
            _decide_members(current, decided, _Actor(current.decided_by or "unknown", None, None))
        return Outcome(Result.ALREADY_DECIDED, current)
    return Outcome(Result.EXPIRED, current)


def _deliver(approval: Approval, decision: Decision, reason: str | None) -> None:
    """Answer the waiting workflow: an approval is the task's output (``$.approval``); a denial fails the
    task with ``ApprovalDenied`` (the Denied state records it)."""
    sfn = aws.client("stepfunctions")
    result = ApprovalResult(
        decision=decision.value,
        by=approval.decided_by,
        at=approval.decided_at,
        approval_id=approval.approval_id,
        approvers=approval.approvals if decision is Decision.APPROVE else (),
        reason=reason or None,
    )
    if decision is Decision.APPROVE:
        sfn.send_task_success(taskToken=approval.task_token, output=json.dumps(result.as_state()))
    else:
        sfn.send_task_failure(
            taskToken=approval.task_token, error="ApprovalDenied", cause=json.dumps(result.as_state())
        )
    # The workflow has its answer: the token is of no further use to anyone.
    records.erase_token(approval.approval_id)
