"""RequestApproval: store the token under an opaque id, post the card, tell the other channels, page the
escalation topic.

The workflow waits for the token whatever happens here. If Slack cannot be reached the approval stays pending
(the CLI can still decide it) and the escalation topic is paged; a Slack failure is never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tourniquet import escalation, store
from tourniquet.approval import card, decisions, records, updates
from tourniquet.approval.model import ApprovalRequest
from tourniquet.approval.records import Approval
from tourniquet.channels import UpdateKind, deliver
from tourniquet.errors import EscalationFailed, SlackUnavailable
from tourniquet.logs import logger
from tourniquet.settings import get_settings
from tourniquet.slack import Message, Slack, mrkdwn, record_slack_error


@dataclass(frozen=True)
class Requested:
    approval_id: str
    posted: bool

    def as_dict(self) -> dict[str, object]:
        return {"approval_id": self.approval_id, "posted": self.posted}


def request_approval(request: ApprovalRequest) -> Requested:
    approval = records.create(request, required_approvals(request.plan.approval))
    logger.append_keys(approval_id=approval.approval_id)
    message = _post_card(approval)
    if message is not None:
        records.set_message(approval.approval_id, message.channel, message.ts)
        store.update_incident(
            approval.incident_id,
            approval_id=approval.approval_id,
            slack_channel=message.channel,
            slack_ts=message.ts,
        )
    else:
        store.update_incident(approval.incident_id, approval_id=approval.approval_id)
    store.append_event(
        approval.incident_id,
        "approval_requested",
        approval_id=approval.approval_id,
        actions=list(approval.actions),
        deadline=approval.deadline,
        required_approvals=approval.required_approvals,
        posted=message is not None,
    )
    _tell_channels(approval)
    _escalate(approval, posted=message is not None)
    logger.info(
        "approval requested", extra={"actions": list(approval.actions), "posted": message is not None}
    )
    return Requested(approval_id=approval.approval_id, posted=message is not None)


def remind(incident_id: str, task_token: str) -> dict[str, object]:
    """RemindApprovers: the approval is still open at the reminder. Keep waiting under the new token,
    remind in the card's thread and page the escalation topic; or, if someone decided meanwhile, deliver it.
    """
    incident = store.get_incident(incident_id) or {}
    approval_id = incident.get("approval_id")
    if not approval_id:
        raise ValueError(f"incident {incident_id}: no approval was requested")
    logger.append_keys(approval_id=approval_id)
    renewed = records.renew_token(approval_id, task_token, store.iso())
    if renewed is None:
        decisions.deliver_taken(approval_id, task_token)
        return {"approval_id": approval_id, "reminded": False}
    posted = _post_reminder(renewed)
    store.append_event(
        incident_id,
        "approval_reminder",
        approval_id=approval_id,
        deadline=renewed.deadline,
        approvals=len(renewed.approvals),
        required_approvals=renewed.required_approvals,
        posted=posted,
    )
    _escalate(renewed, posted=posted, event="approval_reminder")
    logger.info("approvers reminded", extra={"posted": posted})
    return {"approval_id": approval_id, "reminded": True}


def _tell_channels(approval: Approval) -> None:
    """The other channels (PagerDuty, Teams, e-mail) hear that a person must decide, where and by when."""
    ctx = approval.card
    done = ", ".join(f"{a.action} ({a.status})" for a in ctx.contained)
    summary = (
        f"{'Done automatically: ' + done + '. ' if done else 'Nothing was changed automatically. '}"
        f"Waiting for approval of {', '.join(approval.actions)} on {ctx.plan.target.id or 'the target'}"
        f" until {approval.deadline}."
    )
    deliver(
        updates.from_card(ctx, UpdateKind.OPENED, status="approval needed", summary=summary, waiting=True)
    )


def _post_reminder(approval: Approval) -> bool:
    if not (approval.slack_channel and approval.slack_ts):
        return False
    waiting = ", ".join(approval.actions)
    votes = (
        f" ({len(approval.approvals)} of {approval.required_approvals} approvals)"
        if approval.approvals
        else ""
    )
    text = f":alarm_clock: Still waiting for a decision on {waiting}{votes}; expires {approval.deadline}."
    try:
        Slack.connect().post(approval.slack_channel, text, thread_ts=approval.slack_ts)
    except SlackUnavailable as exc:
        record_slack_error(approval.incident_id, exc)
        return False
    return True


def required_approvals(actions: tuple[str, ...]) -> int:
    """Two different approvers when any pending action is under the two-person rule (TWO_PERSON_ACTIONS)."""
    return 2 if set(actions) & set(get_settings().two_person_actions) else 1


def _post_card(approval: Approval) -> Message | None:
    """The card, and the verdict's reasons in its thread."""
    blocks = card.approval_card(
        approval.card,
        approval.approval_id,
        approval.deadline,
        card.Votes(approval.required_approvals, approval.approvals),
    )
    try:
        slack = Slack.connect()
        message = slack.post(get_settings().slack_channel, card.card_text(approval.card), blocks=blocks)
    except SlackUnavailable as exc:
        record_slack_error(approval.incident_id, exc)
        return None
    verdict = approval.card.verdict
    if verdict is not None:
        try:
            slack.post(message.channel, mrkdwn.verdict_thread(verdict), thread_ts=message.ts)
        except SlackUnavailable as exc:
            record_slack_error(approval.incident_id, exc)
    return message


def _escalate(approval: Approval, *, posted: bool, event: str = "approval_requested") -> None:
    """Page the escalation topic with a summary (never the token).

    When the card is in Slack, people can already decide: a failed page is recorded and the request stands.
    Without the card, the page is the only way anyone hears of the request: its failure fails the step.
    """
    alert = approval.card.alert
    summary = {
        "event": event,
        "incident_id": approval.incident_id,
        "approval_id": approval.approval_id,
        "severity": alert.severity.value,
        "title": alert.title,
        "finding_type": alert.type,
        "resource": approval.card.plan.target.id,
        "account": alert.account,
        "region": alert.region,
        "pending_actions": list(approval.actions),
        "required_approvals": approval.required_approvals,
        "deadline": approval.deadline,
        "slack_posted": posted,
        "execution_id": approval.execution_id,
    }
    try:
        escalation.publish(
            f"Tourniquet: {event.replace('_', ' ')} ({alert.severity.value}) {approval.incident_id}", summary
        )
    except EscalationFailed as exc:
        if not posted:
            raise
        logger.error("escalation failed", extra={"error": str(exc)})
        store.append_event(approval.incident_id, "escalation_error", error=str(exc))
