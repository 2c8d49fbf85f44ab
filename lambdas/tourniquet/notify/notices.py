"""NotifyDuplicate, NotifyFolded, NotifyOutcome, NotifyReleased, NotifyResolved and NotifyFailure: keep the
incident's card current (the approval gate, through the Slack client), tell every channel (Slack in the
card's thread, PagerDuty, Teams, e-mail) of each change of status through ``channels.deliver``, and page the
escalation topic when a run fails.

A closed incident whose containment can be undone gets a Release button on its card (``release_offers``).
An incident that nothing was done for gets the whole card, the status "needs a human" and an Acknowledge
button (``acknowledgements``).

Slack and channel failures are recorded on the incident and survived. A failed page (SNS) fails the step: a
failure that nobody hears of is the one thing that must not happen quietly. Failures are told in plain words
(``failures``): what failed, on what, and what to do next; a stack trace never reaches a channel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import aws, escalation, store
from tourniquet.approval import acknowledgements, batches, card, members, records, release_offers, updates
from tourniquet.approval.model import ApprovalStatus, CardContext
from tourniquet.approval.records import Approval
from tourniquet.channels import Decided, Step, Update, UpdateKind, deliver, plain
from tourniquet.channels import slack as slack_channel
from tourniquet.errors import SlackUnavailable
from tourniquet.incidents import metrics, storm
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
from tourniquet.slack import Message, Slack, mrkdwn, record_slack_error
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
    incident = store.get_incident(notice.incident.id)
    if _thread(incident) is None:
        return False  # No card yet: when it is posted, it counts the alerts.
    times = notice.incident.duplicate_count
    update = _bare_update(
        notice.incident.id,
        incident or {},
        UpdateKind.REPEATED,
        status="seen again",
        summary=f"Seen again ({times}×)",  # noqa: RUF001 (the multiplication sign)
    )
    return _told(deliver(update))


def _folded(notice: FoldedNotice) -> bool:
    """A storm's summary in the card's thread, when this alert is the one to post it (see
    :mod:`tourniquet.incidents.storm`), with the buttons of the folded resources waiting for a person
    (:mod:`tourniquet.approval.batches`). Before the card exists nothing is claimed: the card lists them."""
    thread = _thread(store.get_incident(notice.incident.id))
    if thread is None:
        return False
    unoffered = notice.approval_id is not None and members.awaiting_summary(notice.approval_id)
    summary = storm.claim_summary(notice.incident, notice.execution_id, unoffered=unoffered, ran=notice.ran)
    if summary is None:
        return True
    text = card.clip(_storm_text(summary), 3000)
    return _send(
        notice.incident.id,
        lambda slack: batches.post(slack, thread, text, notice.incident.id, notice.approval_id),
    )


def _storm_text(summary: storm.Summary) -> str:
    joined, again = summary.joined, summary.seen_again
    alerts = sum(resource.alerts for resource in summary.resources)
    lines = [
        f"🌩️ *Storm*: {len(joined)} resources joined, {len(again)} seen again"
        f" · {len(summary.resources)} resources, {alerts} alerts in all"
    ]
    lines += storm.listing([*joined, *again], summary.incident_id)
    contained = list(summary.contained.items())
    for target, actions in contained[: storm.LISTED]:
        lines.append(f"🛡️ {mrkdwn.code(target)}: {card.escape(', '.join(actions))}")
    if len(contained) > storm.LISTED:
        more = len(contained) - storm.LISTED
        lines.append(f"🛡️ …and {more} more: {mrkdwn.code(f'tourniquet incident show {summary.incident_id}')}")
    return "\n".join(lines)


def _outcome(notice: OutcomeNotice) -> bool:
    """The card (the approval gate's) in its final state, then the outcome told on every channel: in Slack,
    in the card's thread, or as the incident's announcement when it has no card."""
    incident = store.get_incident(notice.incident.id) or {}
    approval = records.get(incident["approval_id"]) if incident.get("approval_id") else None
    ctx = approval.card if approval is not None else notice.context()
    final = card.FinalState(
        status=notice.outcome.status,
        resolution=_resolution(approval),
        actions=tuple(
            card.ActionSummary(name=a.name, mode=a.mode, status=a.status, verified=a.verified)
            for a in notice.outcome.actions
        ),
    )
    carded = _final_card(ctx, final, approval, _thread(incident))
    told = _told(deliver(_outcome_update(notice, ctx, incident, final)))
    return carded and told


def _outcome_update(
    notice: OutcomeNotice, ctx: CardContext | None, incident: dict[str, Any], final: card.FinalState
) -> Update:
    """The outcome for every channel: needs a human (opened), expired (a page), or ended (closed)."""
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
        update = _bare_update(notice.incident.id, incident, kind, status=status, summary=summary)
    else:
        update = updates.from_card(ctx, kind, status=status, summary=summary)
    # An incident that needs a human lists its storm's resources on its card (``_needs_human``).
    affected = storm.resources_for_card(notice.incident) if kind is not UpdateKind.OPENED else []
    return dataclasses.replace(
        update,
        steps=tuple(
            Step(name=a.name, status=a.status, verified=a.verified, mode=a.mode, target=a.target or "")
            for a in outcome.actions
        ),
        decided=_decided(final.resolution),
        affected=tuple(resource.line() for resource in affected),
        verdict=notice.verdict,
    )


def _decided(resolution: card.Resolution | None) -> Decided | None:
    if resolution is None:
        return None
    people = (
        resolution.approvers if len(resolution.approvers) > 1 else (resolution.by,) if resolution.by else ()
    )
    return Decided(status=resolution.status.value, people=people, at=resolution.at)


def _final_card(
    ctx: CardContext | None, final: card.FinalState, approval: Approval | None, thread: Message | None
) -> bool:
    """The card in its final state: the whole card of an incident nothing was done for, or the approval's
    card closed (with the Release button when something can be released). Without one (nothing needed
    approval, and nothing can be released), the outcome told on the channels is the incident's announcement.
    Returns whether Slack took what was meant for it."""
    if ctx is None:
        return True
    if approval is None and final.status == "alerted":
        return _needs_human(ctx, final, thread)
    offer = release_offers.offer(ctx, final)
    if offer is not None or (approval is not None and thread is not None):
        return _post_final_card(ctx, final, offer=offer, thread=thread)
    return True


def _post_final_card(
    ctx: CardContext,
    final: card.FinalState,
    *,
    offer: Approval | None,
    thread: Message | None,
) -> bool:
    """The card in its closed state (updated in place, or posted when there was none), with the Release
    button when something can be released."""
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
                slack.post(message.channel, mrkdwn.verdict_thread(ctx.verdict), thread_ts=message.ts)
        else:
            slack.update(message, card.card_text(ctx), blocks)
        if offer is not None:
            records.set_message(offer.approval_id, message.channel, message.ts)

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
                slack.post(message.channel, mrkdwn.verdict_thread(ctx.verdict), thread_ts=message.ts)
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
    update = _bare_update(
        incident_id,
        incident,
        UpdateKind.RESOLVED,
        status="resolved",
        summary="The source reports that the problem is over.",
    )
    reason = plain(notice.record.reason or "", 300)
    return _told(deliver(dataclasses.replace(update, reason=reason or None)))


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
    """NotifyReleased: the card shows who released it and what came back; every channel is told, and in
    Slack the thread lists each restoration."""
    approval = records.get(notice.approval_id) if notice.approval_id else None
    update = _release_update(notice, approval)
    carded = True
    if (
        approval is not None
        and approval.slack_channel
        and approval.slack_ts
        and approval.final is not None
        and update.kind is UpdateKind.RELEASED
    ):
        message = Message(approval.slack_channel, approval.slack_ts)
        blocks = card.released_card(approval.card, approval.final, slack_channel.release_headline(update))
        carded = _send(
            approval.incident_id, lambda slack: slack.update(message, card.card_text(approval.card), blocks)
        )
    return carded and _told(deliver(update))


def _release_update(notice: ReleasedNotice, approval: Approval | None) -> Update:
    restorations = notice.release.restorations
    restored = [r for r in restorations if r.status in ("done", "unchanged")]
    kept = [r for r in restorations if r.status == "kept"]
    who = notice.actor or (approval.decided_by if approval else None) or "unknown"
    if notice.release.status == "planned":
        kind, status = UpdateKind.RELEASE_PLANNED, "release planned"
        listed = len(restorations)
        summary = f"Release planned by {who} (dry run): {listed} restorations listed, nothing was changed."
    else:
        kind, status = UpdateKind.RELEASED, "released"
        summary = f"Released by {who}: {len(restored)} restored and verified" + (
            f", {len(kept)} kept." if kept else "."
        )
    if approval is not None:
        update = updates.from_card(approval.card, kind, status=status, summary=summary, by=who)
    else:
        incident = store.get_incident(notice.incident.id) or {}
        update = _bare_update(notice.incident.id, incident, kind, status=status, summary=summary)
    people = (approval.approvals if approval else ()) or ((notice.actor,) if notice.actor else ())
    return dataclasses.replace(
        update,
        by=who,
        steps=tuple(
            Step(name=r.action, status=r.status, verified=r.verified, target=r.target) for r in restorations
        ),
        decided=Decided(status=status, people=people),
    )


def _failure(notice: FailureNotice) -> bool:
    incident_id = notice.incident_id
    error = notice.error
    told = failures.told(error, incident_id, notice.state)
    # The function's own message, cut before any stack trace (that stays in the log and the history).
    reason = plain(error.message, _CAUSE_IN_SLACK)
    posted = False
    try:
        update = Update(
            kind=UpdateKind.FAILED,
            incident_id=incident_id or "",
            severity=told.severity,
            title=told.title,
            status="failed",
            summary=told.what,
            reason=reason or None,
            next_step=told.next,
            playbook=told.playbook,
            execution_id=notice.execution_id or None,
        )
        # Slack is always sent a failure (routing): posted only when Slack took it.
        posted = deliver(update).get(slack_channel.SlackChannel.name) == "sent"
        incident = store.get_incident(incident_id) if incident_id else None
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


def _told(results: dict[str, str]) -> bool:
    """Whether Slack took the update, when it was meant for Slack (its kind and its route); the other
    channels' failures are on the timeline."""
    return results.get(slack_channel.SlackChannel.name, "sent") == "sent"


def _send(incident_id: str | None, call: Callable[[Slack], Any]) -> bool:
    """A call of the approval gate's (a card posted or updated in place)."""
    try:
        call(Slack.connect())
    except SlackUnavailable as exc:
        record_slack_error(incident_id, exc)
        return False
    return True


def _thread(incident: dict[str, Any] | None) -> Message | None:
    """The incident's card, if one was posted."""
    return Message.card_of(incident)


def _resolution(approval: Approval | None) -> card.Resolution | None:
    if approval is None or approval.status is ApprovalStatus.PENDING:
        return None
    return card.Resolution(
        status=approval.status, by=approval.decided_by, at=approval.decided_at, approvers=approval.approvals
    )


def _affected(incident: IncidentRef) -> list[str]:
    """A storm's incident lists every resource its alerts named so far (later ones reach the thread)."""
    affected = storm.resources_for_card(incident)
    if len(affected) <= 1:
        return []
    return [f"*{len(affected)} resources*:", *storm.listing(affected, incident.id)]
