"""How an incident ends: contained, denied, expired, alerted or failed; and what ended without one."""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError

from tourniquet import store
from tourniquet.approval import records
from tourniquet.feed.announce import announce
from tourniquet.settings import get_settings
from tourniquet.state import (
    ApprovalResult,
    Ignored,
    IncidentRef,
    Outcome,
    OutcomeAction,
    OutcomeStatus,
    Plan,
    Recorded,
    Resolved,
    StepError,
)

_CAUSE_LIMIT = 1000


def record_outcome(incident_id: str, plan: Plan, decision: ApprovalResult, execution_id: str) -> Outcome:
    incident = store.get_incident(incident_id) or {}
    approval = _approval(incident.get("approval_id"), decision)
    actions = summarize_actions(plan, store.timeline(incident_id))
    status: OutcomeStatus
    if plan.dry_run and decision.decision in ("approve", "not_required") and actions:
        # Every call was planned and none made: nothing is contained.
        status = "planned"
    elif decision.decision == "approve" or (decision.decision == "not_required" and actions):
        status = "contained"
    elif decision.decision == "not_required":
        status = "alerted"
    elif decision.decision == "deny":
        status = "denied"
    else:
        status = "expired"
    store.update_incident(incident_id, status=status, closed_at=store.iso(), playbook=plan.playbook)
    store.append_event(
        incident_id,
        "outcome",
        actor=approval.by or "automation",
        status=status,
        decision=decision.decision,
        execution_id=execution_id,
    )
    closed = Outcome(status=status, approval=approval, actions=actions)
    announce(incident_id, "closed", decision=approval, outcome=closed)
    return closed


def record_decision(incident_id: str, decision: ApprovalResult) -> None:
    """An approval reached the workflow: the SIEM hears of it before the approved steps run."""
    incident = store.get_incident(incident_id) or {}
    announce(incident_id, "decided", decision=_approval(incident.get("approval_id"), decision))


def summarize_actions(plan: Plan, timeline: list[dict[str, Any]]) -> tuple[OutcomeAction, ...]:
    """One line per planned action, from the last thing the timeline says about it."""
    latest: dict[str, dict[str, Any]] = {}
    for event in timeline:
        target = event.get("target")
        # A storm's incident also records the containment of its other resources: this plan's target only.
        other = isinstance(target, dict) and plan.target.id and target.get("id") != plan.target.id
        if event.get("kind") == "action" and not other:
            latest[str(event.get("action"))] = event
    planned: list[tuple[str, Literal["auto", "approval"]]] = [(name, "auto") for name in plan.automatic]
    planned += [(name, "approval") for name in plan.approval]
    summary = []
    for name, mode in planned:
        event = latest.get(name, {})
        target = event.get("target")
        summary.append(
            OutcomeAction(
                name=name,
                mode=mode,
                status=str(event.get("status", "not_run")),
                target=target.get("id") if isinstance(target, dict) else target or plan.target.id,
                verified=bool(event.get("verified", False)),
            )
        )
    return tuple(summary)


def _approval(approval_id: str | None, decision: ApprovalResult) -> ApprovalResult:
    """The decision, with who took it and when as the approval records them."""
    if not approval_id:
        return decision
    key = {"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL"}
    if decision.decision == "expired":
        _expire(key)
    item = store.plain(store.table().get_item(Key=key, ConsistentRead=True).get("Item") or {})
    return decision.model_copy(
        update={"by": item.get("decided_by"), "at": item.get("decided_at"), "approval_id": approval_id}
    )


def _expire(key: dict[str, str]) -> None:
    """The workflow stopped waiting: a late click must find the approval expired, never pending, and its
    token is erased."""
    try:
        store.table().update_item(
            Key=key,
            UpdateExpression="SET #s = :expired, decided_at = :at REMOVE task_token",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":expired": "expired", ":pending": "pending", ":at": store.iso()},
        )
    except ClientError as exc:
        if not store.is_conditional_failure(exc):
            raise


def record_failure(error: StepError, incident: IncidentRef | None, execution_id: str) -> Recorded:
    """The run failed: the incident (if one was opened) says so in plain words; the stack trace, if any,
    stays in the function's log and the execution history."""
    reason = error.message[:_CAUSE_LIMIT]
    if incident is not None and (incident.duplicate or incident.folded):
        # The run of a copy or of a storm's later alert failed, not the incident: its own run goes on.
        store.append_event(
            incident.id, "failure", error=error.error, reason=reason, execution_id=execution_id
        )
    elif incident is not None:
        item = store.get_incident(incident.id) or {}
        if item.get("approval_id"):
            # Whatever failed, the workflow waits for no approval any more.
            records.erase_token(str(item["approval_id"]))
        store.update_incident(incident.id, status="failed", closed_at=store.iso(), error=error.error)
        store.append_event(
            incident.id, "failure", error=error.error, reason=reason, execution_id=execution_id
        )
        announce(incident.id, "failed")
    else:
        _record_unattached("FAILURE", execution_id, error=error.error, reason=reason)
    return Recorded(status="failed", incident_id=incident.id if incident else None, error=error.error)


def record_resolved(resolution: Resolved, execution_id: str) -> Recorded:
    """The source says the problem is over. The incident it opened is marked resolved (its status only if
    nothing was contained), and its dedup claim released so that the next firing opens a new incident."""
    key = {"pk": f"DEDUP#{resolution.dedup_key}", "sk": "DEDUP"}
    claim = store.table().get_item(Key=key, ConsistentRead=True).get("Item")
    if not claim:
        _record_unattached("RESOLVED", execution_id, source=resolution.source, reason=resolution.reason)
        return Recorded(status="resolved")
    incident_id = str(claim["incident_id"])
    try:
        store.table().update_item(
            Key=key,
            UpdateExpression="SET last_seen = :zero, finding_id = :released",
            ConditionExpression="incident_id = :incident",
            ExpressionAttributeValues={":zero": 0, ":released": "resolved", ":incident": incident_id},
        )
    except ClientError as exc:
        # A newer incident took the key meanwhile: this resolution is about the old one only.
        if not store.is_conditional_failure(exc):
            raise
    resolved_at = store.iso()
    try:
        store.table().update_item(
            Key={"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK},
            UpdateExpression="SET #s = :resolved, resolved_at = :at",
            ConditionExpression="#s = :alerted",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":resolved": "resolved", ":alerted": "alerted", ":at": resolved_at},
        )
    except ClientError as exc:
        if not store.is_conditional_failure(exc):
            raise
        store.update_incident(incident_id, resolved_at=resolved_at)
    store.append_event(
        incident_id,
        "resolved",
        actor=resolution.source or "source",
        reason=resolution.reason,
        execution_id=execution_id,
    )
    announce(incident_id, "resolved")
    return Recorded(status="resolved", incident_id=incident_id)


def record_ignored(ignored: Ignored, execution_id: str) -> Recorded:
    _record_unattached("IGNORED", execution_id, source=ignored.source, reason=ignored.reason)
    return Recorded(status="ignored", reason=ignored.reason)


def _record_unattached(kind: str, execution_id: str, **detail: Any) -> None:
    """What ended before an incident existed still leaves a record, filed by day, kept for the retention."""
    at = store.iso()
    store.table().put_item(
        Item={
            "pk": f"{kind}#{at[:10]}",
            "sk": f"{at}#{execution_id}",
            "execution_id": execution_id,
            "at": at,
            "expires_at": store.epoch(at) + get_settings().retention_seconds,
            **{k: v for k, v in detail.items() if v is not None},
        }
    )
