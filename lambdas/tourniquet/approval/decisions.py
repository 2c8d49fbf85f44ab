"""Taking a decision: single-use, then delivered to the waiting workflow.

The conditional claim (pending and unexpired → approved/denied) is what makes a decision single-use; a valid
Slack signature proves who sent a click, not that it is the first. Only after the claim is the token used.
Callers (the Slack interaction, the CLI) authorize the person first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.approval import records
from tourniquet.approval.model import DECIDED_STATUS, ApprovalStatus, Decision
from tourniquet.approval.records import Approval
from tourniquet.logs import logger

# The workflow no longer waits for this token: it timed out, finished or was never this account's.
_DEAD_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class Result(StrEnum):
    DECIDED = "decided"
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


def decide(approval_id: str, decision: Decision, by: str) -> Outcome:
    at = store.iso()
    claimed = records.claim(approval_id, DECIDED_STATUS[decision], by, at)
    if claimed is None:
        return _refused(approval_id, at)
    logger.append_keys(incident_id=claimed.incident_id, approval_id=approval_id)
    try:
        _deliver(claimed, decision)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in _DEAD_TOKEN_CODES:
            expired = records.expire(claimed)
            store.append_event(
                claimed.incident_id,
                "approval_expired",
                actor=by,
                approval_id=approval_id,
                decision=decision.value,
                error=code,
            )
            logger.warning("decision arrived after the workflow stopped waiting", extra={"error": code})
            return Outcome(Result.TOO_LATE, expired)
        records.release(claimed)
        raise DecisionNotDelivered(f"Step Functions refused the decision: {code or 'error'}") from exc
    store.append_event(
        claimed.incident_id,
        "decision",
        actor=by,
        approval_id=approval_id,
        decision=decision.value,
        actions=list(claimed.actions),
    )
    logger.info("decision delivered", extra={"decision": decision.value, "by": by})
    return Outcome(Result.DECIDED, claimed)


def _refused(approval_id: str, at: str) -> Outcome:
    current = records.get(approval_id)
    if current is None:
        return Outcome(Result.UNKNOWN, None)
    if current.status in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
        return Outcome(Result.ALREADY_DECIDED, current)
    if current.status is ApprovalStatus.EXPIRED or current.expires_at <= at:
        return Outcome(Result.EXPIRED, current)
    # Still pending and unexpired, so the claim lost a race that has since been undone: ask to try again.
    raise DecisionNotDelivered("the approval changed while deciding")


def _deliver(approval: Approval, decision: Decision) -> None:
    sfn = aws.client("stepfunctions")
    if decision is Decision.APPROVE:
        output = {
            "decision": decision.value,
            "by": approval.decided_by,
            "approval_id": approval.approval_id,
            "at": approval.decided_at,
        }
        sfn.send_task_success(taskToken=approval.task_token, output=json.dumps(output))
    else:
        cause = {"by": approval.decided_by, "at": approval.decided_at, "approval_id": approval.approval_id}
        sfn.send_task_failure(taskToken=approval.task_token, error="ApprovalDenied", cause=json.dumps(cause))
