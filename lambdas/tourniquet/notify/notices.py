"""NotifyDuplicate, NotifyFolded, NotifyOutcome, NotifyReleased, NotifyResolved and NotifyFailure: keep the
incident's card and thread current, tell the other channels (PagerDuty, Teams, e-mail) of each change of
status, and page the escalation topic when a run fails.

A closed incident whose containment can be undone gets a Release button on its card (``release_offers``).
An incident that nothing was done for gets the whole card, the status "needs a human" and an Acknowledge
button (``acknowledgements``).

Slack and channel failures are recorded on the incident and survived. A failed page (SNS) fails the step: a
failure that nobody hears of is the one thing that must not happen quietly. Failures are told in plain words
(``failures``): what failed, on what, and what to do next; a stack trace never reaches a channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import aws, escalation, store
from tourniquet.approval import acknowledgements, batches, card, members, records, release_offers, updates
from tourniquet.approval.model import ApprovalStatus, CardContext
from tourniquet.approval.records import Approval
from tourniquet.channels import Update, UpdateKind, deliver, plain
from tourniquet.errors import SlackUnavailable
from tourniquet.incidents import metrics, storm
from tourniquet.intake.model import Severity
from tourniquet.logs import logger
from tourniquet.notify import failures
from tourniquet.notify.model import (
    DuplicateNotice,
    FailureNotice,
    FoldedNotice,
    Notice,
    OutcomeNotice,
    ReleasedNotice,
    ResolvedNotice,
)
from tourniquet.settings import get_settings
from tourniquet.slack import Message, Slack, record_slack_error
from tourniquet.state import IncidentRef

_CAUSE_IN_SLACK = 500
_CAUSE_IN_PAGE = 1000


def notify(notice: Notice) -> bool:
    """Returns whether everything meant for Slack was posted."""
    if isinstance(notice, DuplicateNotice):
        return _duplicate(notice)
    if isinstance(notice, FoldedNotice):
        return _folded(notice)
    if isinstance(notice, OutcomeNotice):
        posted = _outcome(notice)
        _measure(notice.incident.id, notice.outcome.status, posted)
        return posted
    if isinstance(notice, ReleasedNotice):
        return _released(notice)
    if isinstance(notice, ResolvedNotice):
        return _resolved(notice)
    posted = _failure(notice)
    if notice.incident_id and not (notice.release or notice.approval_id):  # a release's closes no incident
        _measure(notice.incident_id, "failed", posted)
    return posted


def _measure(incident_id: str, outcome: str, posted: bool) -> None:
    """The incident's figures, once it is closed and people were told. They never cost the notice: a table
    that cannot take them is logged, and the step still succeeds."""
    try:
        metrics.publish(incident_id, outcome, notified=posted)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("incident metrics not published", extra={"error": aws.error_code(exc) or str(exc)})


def _duplicate(notice: DuplicateNotice) -> bool:
    thread = _thread(store.get_incident(notice.incident.id))
    if thread is None:
        return False
    text = f"🔁 Seen again ({notice.incident.duplicate_count}×)"  # noqa: RUF001 (the multiplication sign)
    return _send(notice.incident.id, lambda slack: slack.post(thread.channel, text, thread_ts=thread.ts))


def _folded(notice: FoldedNotice) -> bool:
    """A storm's summary in the card's thread, when this alert is the one to post it (see
    :mod:`tourniquet.incidents.storm`), with the buttons of the folded resources waiting for a person
    (:mod:`tourniquet.approval.batches`). Before the card exists nothing is claimed: the card lists them."""
    thread = _thread(store.get_incident(notice.incident.id))
    if thread is None:
        return False
    unoffered = notice.approval_id is not None and members.awaiting_summary(notice.approval_id)
    summary = storm.claim_summary(notice.incident, notice.execution_id, unoffered=unoffered)
    if summary is None:
        return True
    text = card.clip(_storm_text(summary), 3000)
    return _send(notice.incident.id, lambda slack: batches.post(slack, thread, text, notice.incident.id))


def _storm_text(summary: storm.Summary) -> str:
    joined, again = summary.joined, summary.seen_again
    alerts = sum(resource.alerts for resource in summary.resources)
    lines = [
        f"🌩️ *Storm*: {len(joined)} resources joined, {len(again)} seen again"
        f" · {len(summary.resources)} resources, {alerts} alerts in all"
    ]
    lines += storm.listing([*joined, *again], summary.incident_id)
    for target, actions in summary.contained.items():
        lines.append(f"🛡️ Contained `{card.escape(target)}`: {card.escape(', '.join(actions))}")
    return "\n".join(lines)


def _outcome(notice: OutcomeNotice) -> bool:
    incident = store.get_incident(notice.incident.id) or {}
    approval = records.get(incident["approval_id"]) if incident.get("approval_id") else None
    ctx = approval.card if approval is not None else notice.context()
    posted = _slack_outcome(notice, incident, approval)
    deliver(_outcome_update(notice, ctx, incident))
    return posted


def _outcome_update(notice: OutcomeNotice, ctx: CardContext | None, incident: dict[str, Any]) -> Update:
    """The outcome for the other channels: needs a human (opened), expired (a page), or ended (closed)."""
    outcome = notice.outcome
    status = card.status_text(outcome.status)
    pending = ", ".join(a.name for a in outcome.actions if a.mode == "approval") or "the pending steps"
    if outcome.status == "alerted":
        kind = UpdateKind.OPENED
        why = f" ({notice.plan.notes[0]})" if notice.plan is not None and notice.plan.notes else ""
        summary = (
            f"Nothing was done automatically{why}. A person must look: acknowledge it on the card in Slack,"
            " then follow the runbook."
        )
    elif outcome.status == "expired":
        kind, status = UpdateKind.EXPIRED, "approval expired"
        summary = (
            f"Nobody decided on {pending} in time, so it did not run. A person must decide now what to do:"
            f" the timeline is `tourniquet incident show {notice.incident.id}`."
        )
    else:
        kind = UpdateKind.CLOSED
        done = "; ".join(
            f"{a.name}: {a.status}{'' if a.verified else ' (not verified)'}" for a in outcome.actions
        )
        summary = f"The incident is {status}" + (f": {done}." if done else ".")
    if ctx is None:
        return _bare_update(notice.incident.id, incident, kind, status=status, summary=summary)
    return updates.from_card(ctx, kind, status=status, summary=summary)


def _slack_outcome(notice: OutcomeNotice, incident: dict[str, Any], approval: Approval | None) -> bool:
    incident_id = notice.incident.id
    final = card.FinalState(
        status=notice.outcome.status,
        resolution=_resolution(approval),
        actions=tuple(
            card.ActionSummary(name=a.name, mode=a.mode, status=a.status, verified=a.verified)
            for a in notice.outcome.actions
        ),
    )
    thread = _thread(incident)
    ctx = approval.card if approval is not None else notice.context()
    if ctx is not None and approval is None and final.status == "alerted":
        return _needs_human(ctx, final, thread)
    offer = release_offers.offer(ctx, final) if ctx is not None else None
    summary = _outcome_summary(notice.incident, final)
    if ctx is not None and (offer is not None or (approval is not None and thread is not None)):
        return _post_final_card(ctx, final, offer=offer, thread=thread, summary=summary)
    # No card (nothing needed approval, or the card could not be posted): the outcome is the announcement.
    verdict = notice.verdict
    text = _headline(incident) + "\n" + (card.verdict_line(verdict) + "\n" if verdict else "") + summary
    if thread is not None:
        return _send(incident_id, lambda slack: slack.post(thread.channel, text, thread_ts=thread.ts))

    def announce(slack: Slack) -> None:
        message = slack.post(get_settings().slack_channel, text)
        # The announcement is the incident's card: later alerts of its storm reply in its thread.
        store.update_incident(incident_id, slack_channel=message.channel, slack_ts=message.ts)
        if verdict is not None:
            slack.post(message.channel, card.verdict_thread(verdict), thread_ts=message.ts)

    return _send(incident_id, announce)


def _post_final_card(
    ctx: CardContext,
    final: card.FinalState,
    *,
    offer: Approval | None,
    thread: Message | None,
    summary: str,
) -> bool:
    """The card in its closed state (updated in place, or posted when there was none), with the Release
    button when something can be released; the summary goes in its thread."""
    decided = _resolution(offer)
    if offer is not None and decided is None:
        votes = card.Votes(offer.required_approvals, offer.approvals)
        blocks = card.releasable_card(ctx, final, offer.approval_id, offer.deadline, votes)
    elif decided is not None:
        # A retried notification after someone already released: the button stays gone.
        blocks = card.release_decided_card(ctx, final, decided)
    else:
        blocks = card.final_card(ctx, final)

    def post(slack: Slack) -> None:
        message = thread
        if message is None:
            message = slack.post(get_settings().slack_channel, card.card_text(ctx), blocks=blocks)
            store.update_incident(ctx.incident.id, slack_channel=message.channel, slack_ts=message.ts)
            if ctx.verdict is not None:
                # A card posted only now: the verdict's reasons open its thread.
                slack.post(message.channel, card.verdict_thread(ctx.verdict), thread_ts=message.ts)
        else:
            slack.update(message, card.card_text(ctx), blocks)
        if offer is not None:
            records.set_message(offer.approval_id, message.channel, message.ts)
        slack.post(message.channel, summary, thread_ts=message.ts)

    return _send(ctx.incident.id, post)


def _needs_human(ctx: CardContext, final: card.FinalState, thread: Message | None) -> bool:
    """The whole card of an incident nothing was done for, with the Acknowledge button (or who took it)."""
    offer = acknowledgements.offer(ctx, final)
    decided = _resolution(offer)
    affected = _affected(ctx.incident)
    if decided is not None:
        blocks = card.acknowledged_card(ctx, final, decided, affected)
    else:
        blocks = card.needs_human_card(ctx, final, offer.approval_id, affected)
    text = card.card_text(ctx, alert_only=True)

    def post(slack: Slack) -> None:
        message = thread
        if message is None:
            message = slack.post(get_settings().slack_channel, text, blocks=blocks)
            store.update_incident(ctx.incident.id, slack_channel=message.channel, slack_ts=message.ts)
            if ctx.verdict is not None:
                slack.post(message.channel, card.verdict_thread(ctx.verdict), thread_ts=message.ts)
        else:
            slack.update(message, text, blocks)
        records.set_message(offer.approval_id, message.channel, message.ts)

    return _send(ctx.incident.id, post)


def _resolved(notice: ResolvedNotice) -> bool:
    """NotifyResolved: the source says the problem is over. The card's thread says so; the channels close."""
    incident_id = notice.incident_id
    if incident_id is None:
        return True
    incident = store.get_incident(incident_id) or {}
    reason = plain(notice.record.reason or "", 300)
    text = "✅ *Resolved at the source*" + (f": {card.escape(reason)}" if reason else "")
    thread = _thread(incident)
    posted = True
    if thread is not None:
        posted = _send(incident_id, lambda slack: slack.post(thread.channel, text, thread_ts=thread.ts))
    summary = "The source reports that the problem is over" + (f": {reason}" if reason else "") + "."
    deliver(_bare_update(incident_id, incident, UpdateKind.CLOSED, status="resolved", summary=summary))
    return posted


def _bare_update(
    incident_id: str, incident: dict[str, Any], kind: UpdateKind, *, status: str, summary: str
) -> Update:
    """An update from the incident's record alone, when the card's context is not at hand."""
    severity = str(incident.get("severity") or "UNKNOWN")
    return Update(
        kind=kind,
        incident_id=incident_id,
        severity=severity,
        title=plain(str(incident.get("title") or "Incident"), 200),
        status=status,
        summary=plain(summary, 1000),
        playbook=str(incident.get("playbook") or ""),
        first_seen=incident.get("first_seen"),
    )


def _released(notice: ReleasedNotice) -> bool:
    """NotifyReleased: the card shows who released it and what came back; the thread lists each one."""
    incident_id = notice.incident.id
    approval = records.get(notice.approval_id) if notice.approval_id else None
    restored = [r for r in notice.release.restorations if r.status in ("done", "unchanged")]
    kept = [r for r in notice.release.restorations if r.status == "kept"]
    if approval and approval.approvals:
        who = card.people_text(approval.approvals)
    else:
        who = card.who_text(notice.actor)
    if notice.release.status == "planned":
        headline = (
            f"🔎 *Release planned* by {who} (dry run): {len(notice.release.restorations)} restorations"
            " listed, nothing was changed"
        )
    else:
        headline = f"🔓 *Released* by {who}: {len(restored)} restored and verified" + (
            f", {len(kept)} kept" if kept else ""
        )
    _tell_released(notice, approval, restored, kept)
    lines = [headline]
    lines += [
        f"{'✅' if r.verified else '⚠️'} {card.escape(r.action)} on `{card.escape(r.target)}`:"
        f" {card.escape(r.status)}"
        for r in notice.release.restorations
    ]
    text = card.clip("\n".join(lines), 3000)
    if (
        approval is None
        or not (approval.slack_channel and approval.slack_ts)
        or notice.release.status == "planned"
    ):
        thread = _thread(store.get_incident(incident_id))
        channel = thread.channel if thread else get_settings().slack_channel
        return _send(
            incident_id, lambda slack: slack.post(channel, text, thread_ts=thread.ts if thread else None)
        )
    message = Message(approval.slack_channel, approval.slack_ts)
    final = approval.final

    def update_and_reply(slack: Slack) -> None:
        if final is not None:
            slack.update(
                message, card.card_text(approval.card), card.released_card(approval.card, final, headline)
            )
        slack.post(message.channel, text, thread_ts=message.ts)

    return _send(incident_id, update_and_reply)


def _tell_released(
    notice: ReleasedNotice, approval: Approval | None, restored: list[Any], kept: list[Any]
) -> None:
    who = notice.actor or (approval.decided_by if approval else None) or "unknown"
    if notice.release.status == "planned":
        return
    summary = f"Released by {who}: {len(restored)} restored and verified" + (
        f", {len(kept)} kept." if kept else "."
    )
    if approval is not None:
        update = updates.from_card(
            approval.card, UpdateKind.RELEASED, status="released", summary=summary, by=who
        )
    else:
        incident = store.get_incident(notice.incident.id) or {}
        update = _bare_update(
            notice.incident.id, incident, UpdateKind.RELEASED, status="released", summary=summary
        )
    deliver(update)


def _failure(notice: FailureNotice) -> bool:
    incident_id = notice.incident_id
    error = notice.error
    told = failures.told(error, incident_id, notice.state)
    # The function's own message, cut before any stack trace (that stays in the log and the history).
    reason = plain(error.message, _CAUSE_IN_SLACK)
    lines = [f"❗ *Incident response failed*: {card.escape(told.what)}"]
    if reason:
        lines.append(card.escape(reason))
    lines.append(f"*What to do next*: {card.escape(told.next)}")
    execution = card.escape(notice.execution_id or "unknown")
    lines.append(f"Incident `{card.escape(incident_id or 'none')}` · execution `{execution}`")
    text = "\n".join(lines)
    posted = False
    try:
        deliver(
            Update(
                kind=UpdateKind.FAILED,
                incident_id=incident_id or "",
                severity=told.severity,
                title=told.title,
                status="failed",
                summary=" ".join(
                    part
                    for part in (
                        f"Incident response failed: {told.what}.",
                        reason,
                        f"What to do next: {told.next}",
                    )
                    if part
                ),
                playbook=told.playbook,
            )
        )
        incident = store.get_incident(incident_id) if incident_id else None
        thread = _thread(incident)
        channel = thread.channel if thread else get_settings().slack_channel
        posted = _send(
            incident_id, lambda slack: slack.post(channel, text, thread_ts=thread.ts if thread else None)
        )
        if notice.approval_id:
            _release_failed(notice.approval_id)
        elif incident and incident.get("approval_id") and notice.of_incident:
            _card_failed(str(incident["approval_id"]), f"{told.what}. {reason}".strip())
    finally:
        # The page goes out even if reading the incident or posting to Slack raised.
        escalation.publish(
            f"Tourniquet: incident response failed ({error.error})",
            {
                "event": "failure",
                "incident_id": incident_id,
                "error": error.error,
                "what": told.what,
                "next": told.next,
                "reason": plain(error.message, _CAUSE_IN_PAGE),
                "record_error": notice.record_error,
                "execution_id": notice.execution_id,
                "slack_posted": posted,
            },
        )
    return posted


def _card_failed(approval_id: str, reason: str) -> None:
    """A card still offering its buttons says the run failed, and why; nobody can decide it any more."""
    approval = records.get(approval_id)
    if approval is None or not (approval.slack_channel and approval.slack_ts):
        return
    message = Message(approval.slack_channel, approval.slack_ts)
    blocks = card.failed_card(approval.card, reason)
    _send(approval.incident_id, lambda slack: slack.update(message, card.card_text(approval.card), blocks))


def _release_failed(approval_id: str) -> None:
    """The card stops saying the release is under way: it failed, and what remains contained is recorded."""
    approval = records.get(approval_id)
    if approval is None or approval.final is None or not (approval.slack_channel and approval.slack_ts):
        return
    message = Message(approval.slack_channel, approval.slack_ts)
    text = (
        "⚠️ *Release failed*: some resources may still be contained. Each restoration is on the timeline"
        f" (`tourniquet incident show {approval.incident_id}`); retry with"
        f" `tourniquet release {approval.incident_id}`."
    )
    blocks = card.released_card(approval.card, approval.final, text)
    _send(approval.incident_id, lambda slack: slack.update(message, card.card_text(approval.card), blocks))


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


def _outcome_summary(incident: IncidentRef, final: card.FinalState) -> str:
    if final.status == "alerted":
        lines = [f"🙋 Incident `{card.escape(incident.id)}` {card.NEEDS_A_HUMAN}"]
    else:
        lines = [f"🏁 Incident `{card.escape(incident.id)}` closed"]
    if final.resolution is not None:
        lines.append(card.resolution_text(final.resolution))
    lines.append(card.outcome_text(final))
    lines += _affected(incident)
    return "\n".join(lines)


def _affected(incident: IncidentRef) -> list[str]:
    """A storm's incident lists every resource its alerts named so far (later ones reach the thread)."""
    affected = storm.resources_for_card(incident)
    if len(affected) <= 1:
        return []
    return [f"*{len(affected)} resources*:", *storm.listing(affected, incident.id)]


def _headline(incident: dict[str, Any]) -> str:
    severity = incident.get("severity")
    emoji = card.SEVERITY_EMOJI[Severity(severity)] if severity in set(Severity) else "⚪"
    title = card.escape(str(incident.get("title") or "Incident"))
    return card.clip(f"{emoji} *{card.escape(str(severity or 'UNKNOWN'))}* · {title}", 1000)
