"""NotifyDuplicate, NotifyOutcome and NotifyFailure: keep the incident's card and thread current, and page the
escalation topic when a run fails.

Slack failures are recorded on the incident and survived. A failed page (SNS) fails the step: a failure that
nobody hears of is the one thing that must not happen quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tourniquet import store
from tourniquet.approval import card, records
from tourniquet.approval.model import ApprovalStatus
from tourniquet.approval.records import Approval
from tourniquet.errors import SlackUnavailable
from tourniquet.intake.model import Severity
from tourniquet.notify import escalation
from tourniquet.notify.model import DuplicateNotice, FailureNotice, Notice, OutcomeNotice
from tourniquet.notify.slack import Message, Slack, record_slack_error
from tourniquet.settings import get_settings

_CAUSE_IN_SLACK = 500
_CAUSE_IN_PAGE = 1000


def notify(notice: Notice) -> bool:
    """Returns whether everything meant for Slack was posted."""
    if isinstance(notice, DuplicateNotice):
        return _duplicate(notice)
    if isinstance(notice, OutcomeNotice):
        return _outcome(notice)
    return _failure(notice)


def _duplicate(notice: DuplicateNotice) -> bool:
    thread = _thread(store.get_incident(notice.incident.id))
    if thread is None:
        return False
    text = f"🔁 Seen again ({notice.incident.duplicate_count}×)"  # noqa: RUF001 (the multiplication sign)
    return _send(notice.incident.id, lambda slack: slack.post(thread.channel, text, thread_ts=thread.ts))


def _outcome(notice: OutcomeNotice) -> bool:
    incident_id = notice.incident.id
    incident = store.get_incident(incident_id) or {}
    approval = records.get(incident["approval_id"]) if incident.get("approval_id") else None
    final = card.FinalState(
        status=notice.outcome.status,
        resolution=_resolution(approval),
        actions=tuple(
            card.ActionSummary(name=a.name, mode=a.mode, status=a.status, verified=a.verified)
            for a in notice.outcome.actions
        ),
    )
    thread = _thread(incident)
    if approval is not None and thread is not None:
        blocks = card.final_card(approval.card, final)
        summary = _outcome_summary(incident_id, final)

        def update_and_reply(slack: Slack) -> None:
            slack.update(thread, card.card_text(approval.card), blocks)
            slack.post(thread.channel, summary, thread_ts=thread.ts)

        return _send(incident_id, update_and_reply)
    # No card (nothing needed approval, or the card could not be posted): the outcome is the announcement.
    text = _headline(incident) + "\n" + _outcome_summary(incident_id, final)
    if thread is not None:
        return _send(incident_id, lambda slack: slack.post(thread.channel, text, thread_ts=thread.ts))
    return _send(incident_id, lambda slack: slack.post(get_settings().slack_channel, text))


def _failure(notice: FailureNotice) -> bool:
    incident_id = notice.incident_id
    name, cause = notice.error
    lines = [f"❗ *Incident response failed*: `{card.escape(name)}`"]
    if cause:
        lines.append(card.clip(card.escape(cause), _CAUSE_IN_SLACK))
    execution = card.escape(notice.execution_id or "unknown")
    lines.append(f"Incident `{card.escape(incident_id or 'none')}` · execution `{execution}`")
    text = "\n".join(lines)
    posted = False
    try:
        thread = _thread(store.get_incident(incident_id)) if incident_id else None
        channel = thread.channel if thread else get_settings().slack_channel
        posted = _send(
            incident_id, lambda slack: slack.post(channel, text, thread_ts=thread.ts if thread else None)
        )
    finally:
        # The page goes out even if reading the incident or posting to Slack raised.
        escalation.publish(
            f"Tourniquet: incident response failed ({name})",
            {
                "event": "failure",
                "incident_id": incident_id,
                "error": name,
                "cause": cause[:_CAUSE_IN_PAGE],
                "record_error": notice.record_error,
                "execution_id": notice.execution_id,
                "slack_posted": posted,
            },
        )
    return posted


def _send(incident_id: str | None, call: Callable[[Slack], Any]) -> bool:
    try:
        call(Slack.connect())
    except SlackUnavailable as exc:
        record_slack_error(incident_id, exc)
        return False
    return True


def _thread(incident: dict[str, Any] | None) -> Message | None:
    """The incident's card, if one was posted."""
    if not incident:
        return None
    channel, ts = incident.get("slack_channel"), incident.get("slack_ts")
    if isinstance(channel, str) and channel and isinstance(ts, str) and ts:
        return Message(channel=channel, ts=ts)
    return None


def _resolution(approval: Approval | None) -> card.Resolution | None:
    if approval is None or approval.status is ApprovalStatus.PENDING:
        return None
    return card.Resolution(
        status=approval.status, by=approval.decided_by, at=approval.decided_at, approvers=approval.approvals
    )


def _outcome_summary(incident_id: str, final: card.FinalState) -> str:
    lines = [f"🏁 Incident `{card.escape(incident_id)}` closed"]
    if final.resolution is not None:
        lines.append(card.resolution_text(final.resolution))
    lines.append(card.outcome_text(final))
    return "\n".join(lines)


def _headline(incident: dict[str, Any]) -> str:
    severity = incident.get("severity")
    emoji = card.SEVERITY_EMOJI[Severity(severity)] if severity in set(Severity) else "⚪"
    title = card.escape(str(incident.get("title") or "Incident"))
    return card.clip(f"{emoji} *{card.escape(str(severity or 'UNKNOWN'))}* · {title}", 1000)
