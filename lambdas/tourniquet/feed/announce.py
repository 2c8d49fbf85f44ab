"""Announce a change of an incident: its envelope to the SIEM, and its finding's workflow status to Security
Hub (NOTIFIED when it opens, RESOLVED when it is contained or resolved). Each result goes on the timeline;
a failure of either is recorded and never fails the incident."""

from __future__ import annotations

from tourniquet import store
from tourniquet.feed import envelope, securityhub, siem
from tourniquet.feed.envelope import Change, Envelope
from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.settings import get_settings
from tourniquet.state import ApprovalResult, Outcome


def announce(
    incident_id: str,
    change: Change,
    *,
    decision: ApprovalResult | None = None,
    outcome: Outcome | None = None,
) -> Envelope | None:
    """Announce ``change``; returns the envelope (None when the incident does not exist)."""
    incident = store.get_incident(incident_id)
    if incident is None or not incident.get("alert"):
        return None
    announced = envelope.build(incident, change, store.iso(), decision=decision, outcome=outcome)
    try:
        message_id: str | None = siem.send(announced, get_settings())
        error = None
    except siem.SendFailed as exc:
        message_id, error = None, str(exc)
        logger.error("SIEM envelope not sent", extra={"change": change, "error": error})
    store.append_event(
        incident_id, "siem", change=change, envelope_id=announced.id, message_id=message_id, error=error
    )
    status = _workflow_status(change, outcome)
    alert = Alert.model_validate(incident["alert"])
    if status is not None and alert.securityhub is not None:
        written = securityhub.set_status(alert.securityhub, status, _note(incident_id, change, announced))
        if written.result != "updated":
            logger.warning("Security Hub status not set", extra=written.as_record())
        store.append_event(incident_id, "securityhub", **written.as_record())
    return announced


def _workflow_status(change: Change, outcome: Outcome | None) -> securityhub.WorkflowStatus | None:
    if change == "opened":
        return "NOTIFIED"
    if change == "resolved" or (change == "closed" and outcome is not None and outcome.status == "contained"):
        return "RESOLVED"
    return None


def _note(incident_id: str, change: Change, announced: Envelope) -> str:
    verdict = announced.verdict
    if change == "opened":
        risk = f", risk {verdict.risk_score}/100" if verdict else ""
        return f"Tourniquet incident {incident_id} opened{risk}: being handled."
    if change == "resolved":
        return f"Tourniquet incident {incident_id}: resolved at the source."
    return f"Tourniquet incident {incident_id}: contained, each action verified (tourniquet incident show)."
