"""Taking a decision: single-use, then delivered to the waiting workflow.

The conditional claim (pending and unexpired → approved/denied) is what makes a decision single-use; a valid
Slack signature proves who sent a click, not that it is the first. Only after the claim is the token used.
Under the two-person rule an approval only counts the approver until enough different people have approved;
the write that adds the last of them is the claim. One deny decides. Callers (the Slack interaction, the CLI)
authorize the person first. An approved release starts the release workflow instead of answering a token.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.approval import records
from tourniquet.approval.model import ApprovalKind, ApprovalStatus, Decision
from tourniquet.approval.records import Approval
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


@dataclass(frozen=True)
class Outcome:
    result: Result
    approval: Approval | None


class DecisionNotDelivered(Exception):
    """The decision could not be handed to the workflow; the claim was released, so it can be taken again."""


# Each lost race means another approver's write landed; a handful of rounds settles any real contention.
_ATTEMPTS = 5


def decide(approval_id: str, decision: Decision, by: str, reason: str | None = None) -> Outcome:
    """Take ``by``'s decision (already authorized by the caller). ``reason`` goes to the audit trail."""
    at = store.iso()
    if decision is Decision.APPROVE:
        return _approve(approval_id, by, at, reason)
    claimed = records.claim_denial(approval_id, by, at)
    if claimed is None:
        return _refused(approval_id, at)
    return _delivered(claimed, decision, by, reason)


def _approve(approval_id: str, by: str, at: str, reason: str | None) -> Outcome:
    for _ in range(_ATTEMPTS):
        current = records.get(approval_id)
        if current is None:
            return Outcome(Result.UNKNOWN, None)
        if current.status is not ApprovalStatus.PENDING or current.deadline <= at:
            return _settled(current)
        if by in current.approvals:
            return Outcome(Result.ALREADY_APPROVED, current)
        updated = records.add_approval(current, by, at)
        if updated is not None:
            return _counted(updated, by, reason)
    raise DecisionNotDelivered("the approval kept changing while deciding")


def _counted(updated: Approval, by: str, reason: str | None) -> Outcome:
    if updated.status is ApprovalStatus.APPROVED:
        return _delivered(updated, Decision.APPROVE, by, reason)
    logger.append_keys(incident_id=updated.incident_id, approval_id=updated.approval_id)
    store.append_event(
        updated.incident_id,
        "partial_approval",
        actor=by,
        approval_id=updated.approval_id,
        approvals=len(updated.approvals),
        required=updated.required_approvals,
        reason=reason,
    )
    logger.info("approval counted", extra={"by": by, "approvals": len(updated.approvals)})
    return Outcome(Result.PARTIAL, updated)


def _delivered(claimed: Approval, decision: Decision, by: str, reason: str | None) -> Outcome:
    logger.append_keys(incident_id=claimed.incident_id, approval_id=claimed.approval_id)
    if claimed.kind is ApprovalKind.RELEASE:
        return _release_started(claimed, by, reason)
    try:
        _deliver(claimed, decision, reason)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "TaskTimedOut" and claimed.deadline > store.iso():
            # The workflow is between its two waits (at the reminder): it takes the decision under its
            # next token (see deliver_taken), so the decision stands.
            _record_decision(claimed, decision, by, reason)
            logger.info("decision kept for the workflow's next wait", extra={"decision": decision.value})
            return Outcome(Result.DECIDED, claimed)
        if code in _DEAD_TOKEN_CODES:
            expired = records.expire(claimed)
            store.append_event(
                claimed.incident_id,
                "approval_expired",
                actor=by,
                approval_id=claimed.approval_id,
                decision=decision.value,
                error=code,
            )
            logger.warning("decision arrived after the workflow stopped waiting", extra={"error": code})
            return Outcome(Result.TOO_LATE, expired)
        records.release(claimed)
        raise DecisionNotDelivered(f"Step Functions refused the decision: {code or 'error'}") from exc
    _record_decision(claimed, decision, by, reason)
    logger.info("decision delivered", extra={"decision": decision.value, "by": by})
    return Outcome(Result.DECIDED, claimed)


def _release_started(claimed: Approval, by: str, reason: str | None) -> Outcome:
    """Start the release workflow, named after the approval so that it runs once however often this is
    retried; if it cannot start, the claim is released so that the button can be clicked again."""
    arn = get_settings().release_state_machine_arn
    if not arn:
        records.release(claimed)
        raise DecisionNotDelivered("no release workflow is configured (RELEASE_STATE_MACHINE_ARN)")
    execution_input = ReleaseInput(
        incident=IncidentRef(id=claimed.incident_id),
        approval_id=claimed.approval_id,
        actor=by,
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
    _record_decision(claimed, Decision.APPROVE, by, reason)
    logger.info("release started", extra={"by": by})
    return Outcome(Result.DECIDED, claimed)


def _record_decision(claimed: Approval, decision: Decision, by: str, reason: str | None) -> None:
    store.append_event(
        claimed.incident_id,
        "decision",
        actor=by,
        approval_id=claimed.approval_id,
        decision=decision.value,
        actions=list(claimed.actions),
        approvers=list(claimed.approvals) if decision is Decision.APPROVE else None,
        reason=reason,
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
    """Why a decision on an approval that is no longer pending-and-unexpired changed nothing."""
    if current.status in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
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
