"""How an incident ends: contained, denied, expired, alerted or failed; and what ended without one."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tourniquet import store
from tourniquet.approval import records
from tourniquet.settings import get_settings

_CAUSE_LIMIT = 1000


def record_outcome(
    incident_id: str, plan: dict[str, Any], decision: str, execution_id: str
) -> dict[str, Any]:
    incident = store.get_incident(incident_id) or {}
    approval = _approval(incident.get("approval_id"), decision)
    actions = summarize_actions(plan, store.timeline(incident_id))
    if plan.get("dry_run") and decision in ("approve", "not_required") and actions:
        # Every call was planned and none made: nothing is contained.
        status = "planned"
    elif decision == "approve" or (decision == "not_required" and actions):
        status = "contained"
    elif decision == "not_required":
        status = "alerted"
    else:
        status = {"deny": "denied", "expired": "expired"}.get(decision, "failed")
    store.update_incident(incident_id, status=status, closed_at=store.iso(), playbook=plan.get("playbook"))
    store.append_event(
        incident_id,
        "outcome",
        actor=approval.get("by") or "automation",
        status=status,
        decision=decision,
        execution_id=execution_id,
    )
    return {"status": status, "approval": approval, "actions": actions}


def summarize_actions(plan: dict[str, Any], timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per planned action, from the last thing the timeline says about it."""
    latest: dict[str, dict[str, Any]] = {}
    for event in timeline:
        if event.get("kind") == "action":
            latest[str(event.get("action"))] = event
    planned = [(name, "auto") for name in plan.get("automatic", [])]
    planned += [(name, "approval") for name in plan.get("approval", [])]
    summary = []
    for name, mode in planned:
        event = latest.get(name, {})
        target = event.get("target") or plan.get("target") or {}
        summary.append(
            {
                "name": name,
                "mode": mode,
                "status": event.get("status", "not_run"),
                "target": target.get("id") if isinstance(target, dict) else target,
                "verified": bool(event.get("verified", False)),
            }
        )
    return summary


def _approval(approval_id: str | None, decision: str) -> dict[str, Any]:
    result: dict[str, Any] = {"decision": decision, "by": None, "at": None, "approval_id": approval_id}
    if not approval_id:
        return result
    key = {"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL"}
    if decision == "expired":
        _expire(key)
    item = store.plain(store.table().get_item(Key=key, ConsistentRead=True).get("Item") or {})
    result["by"] = item.get("decided_by")
    result["at"] = item.get("decided_at")
    return result


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


def record_failure(state: dict[str, Any], execution_id: str) -> dict[str, Any]:
    error = state.get("error") or {}
    name = str(error.get("Error", "Unknown"))
    cause = str(error.get("Cause", ""))[:_CAUSE_LIMIT]
    incident_id = (state.get("incident") or {}).get("id")
    if incident_id:
        incident = store.get_incident(incident_id) or {}
        if incident.get("approval_id"):
            # Whatever failed, the workflow waits for no approval any more.
            records.erase_token(str(incident["approval_id"]))
        store.update_incident(incident_id, status="failed", closed_at=store.iso(), error=name)
        store.append_event(incident_id, "failure", error=name, cause=cause, execution_id=execution_id)
    else:
        _record_unattached("FAILURE", execution_id, error=name, cause=cause)
    return {"status": "failed", "incident_id": incident_id, "error": name}


def record_resolved(resolution: dict[str, Any], execution_id: str) -> dict[str, Any]:
    """The source says the problem is over. The incident it opened is marked resolved (its status only if
    nothing was contained), and its dedup claim released so that the next firing opens a new incident."""
    key = {"pk": f"DEDUP#{resolution.get('dedup_key')}", "sk": "DEDUP"}
    claim = store.table().get_item(Key=key, ConsistentRead=True).get("Item")
    if not claim:
        _record_unattached(
            "RESOLVED", execution_id, source=resolution.get("source"), reason=resolution.get("reason")
        )
        return {"status": "resolved", "incident_id": None}
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
        actor=str(resolution.get("source") or "source"),
        reason=resolution.get("reason"),
        execution_id=execution_id,
    )
    return {"status": "resolved", "incident_id": incident_id}


def record_ignored(intake: dict[str, Any], execution_id: str) -> dict[str, Any]:
    _record_unattached("IGNORED", execution_id, source=intake.get("source"), reason=intake.get("reason"))
    return {"status": "ignored", "reason": intake.get("reason")}


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
