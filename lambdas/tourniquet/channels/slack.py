"""Slack as a channel: each change of status, in Slack's mrkdwn, in the thread of the incident's card.

An incident with a card (its location, ``slack_channel`` and ``slack_ts``, is on the incident record) hears
each update as a reply in the card's thread. One without a card gets the update at the top of the channel
(``SLACK_CHANNEL``) as its announcement, and the announcement's location is recorded on the incident, so that
what follows (later alerts of a storm, the failure, the release) replies in its thread.

Slack also carries the approval gate: the cards with buttons (Approve and Deny, Acknowledge, Release) and
their updates in place are posted by ``tourniquet.approval`` and ``tourniquet.notify`` through the client
(``tourniquet.slack``), since a button needs the card it is on. So this channel does not tell what the
cards show: ``opened`` (the approval card, or the whole card of an incident that needs a human; when it
cannot be posted, the CLI and the escalation page are the fallback) and ``acknowledged`` (the card shows who
took it, and the click's reply says so). The bot token lives in Secrets Manager (``SLACK_SECRET_ARN``).
"""

from __future__ import annotations

from typing import ClassVar

from tourniquet import store
from tourniquet.channels.base import Bound, ChannelFailed, Update, UpdateKind
from tourniquet.errors import SlackUnavailable
from tourniquet.secrets import slack_secret
from tourniquet.settings import get_settings
from tourniquet.slack import Message, Slack, mrkdwn
from tourniquet.slack.client import retries_within

_LISTED = 10
_HEADLINE_LIMIT = 1000
# Said only in the thread of a card people have seen: a repeat, or the all-clear of an incident never shown.
_IN_THREAD_ONLY = frozenset({UpdateKind.REPEATED, UpdateKind.RESOLVED})
_SEVERITY = {severity.value: emoji for severity, emoji in mrkdwn.SEVERITY_EMOJI.items()}


class SlackChannel:
    name: ClassVar[str] = "slack"
    kinds: ClassVar[frozenset[UpdateKind]] = frozenset(UpdateKind) - {
        UpdateKind.OPENED,
        UpdateKind.ACKNOWLEDGED,
    }

    def __init__(self, channel: str) -> None:
        self._channel = channel

    @classmethod
    def connect(cls) -> SlackChannel:
        try:
            slack_secret()  # the bot token, read (and kept) now: a missing or unreadable one fails here
        except SlackUnavailable as exc:
            raise ChannelFailed(str(exc)) from exc
        return cls(get_settings().slack_channel)

    def send(self, update: Update, bound: Bound) -> None:
        incident = store.get_incident(update.incident_id) if update.incident_id else None
        card = Message.card_of(incident)
        if card is None and update.kind in _IN_THREAD_ONLY:
            return
        try:
            slack = _client(bound)
            if card is not None:
                slack.post(card.channel, render(update), thread_ts=card.ts)
                return
            announcement = slack.post(self._channel, f"{headline(update)}\n{render(update)}")
            if incident:
                # The announcement is the incident's card from now on: what follows replies in its thread.
                store.update_incident(
                    update.incident_id, slack_channel=announcement.channel, slack_ts=announcement.ts
                )
            if update.verdict is not None:
                slack.post(
                    announcement.channel, mrkdwn.verdict_thread(update.verdict), thread_ts=announcement.ts
                )
        except SlackUnavailable as exc:
            raise ChannelFailed(f"Slack {exc}") from exc

    def send_report(self, title: str, text: str, bound: Bound) -> None:
        try:
            _client(bound).post(self._channel, report_text(title, text))
        except SlackUnavailable as exc:
            raise ChannelFailed(f"Slack {exc}") from exc


def report_text(title: str, text: str) -> str:
    """A report: its title in bold, then its lines, escaped (a name in it never mentions anyone)."""
    lines = [f"📊 *{mrkdwn.escape(title)}*", *(mrkdwn.escape(line) for line in text.splitlines())]
    return mrkdwn.clip("\n".join(lines), mrkdwn.SECTION_LIMIT)


def _client(bound: Bound) -> Slack:
    """Raises :class:`SlackUnavailable` when the bot token cannot be read."""
    return Slack.connect(timeout=bound.timeout, retries=retries_within(bound.attempts, bound.total))


def render(update: Update) -> str:
    """The update in Slack's mrkdwn, every alert field escaped."""
    kind = update.kind
    if kind is UpdateKind.REPEATED:
        lines = [f"🔁 {mrkdwn.escape(update.summary)}"]
    elif kind is UpdateKind.RESOLVED:
        lines = [
            "✅ *Resolved at the source*" + (f": {mrkdwn.escape(update.reason)}" if update.reason else "")
        ]
    elif kind is UpdateKind.FAILED:
        lines = _failed(update)
    elif kind in (UpdateKind.RELEASED, UpdateKind.RELEASE_PLANNED):
        lines = [release_headline(update), *_restorations(update)]
    else:
        lines = _outcome(update)
    return mrkdwn.clip("\n".join(lines), mrkdwn.SECTION_LIMIT)


def headline(update: Update) -> str:
    """An announcement's first lines: the severity, the title and the verdict in one line."""
    emoji = _SEVERITY.get(update.severity, "⚪")
    title = f"{emoji} *{mrkdwn.escape(update.severity)}* · {mrkdwn.escape(update.title)}"
    lines = [mrkdwn.clip(title, _HEADLINE_LIMIT)]
    if update.verdict is not None:
        lines.append(mrkdwn.verdict_line(update.verdict))
    return "\n".join(lines)


def release_headline(update: Update) -> str:
    """Who released, and what came back (or, for a dry run, what would)."""
    people = update.decided.people if update.decided is not None else ()
    who = mrkdwn.people_text(people) if people else mrkdwn.who_text(update.by)
    if update.kind is UpdateKind.RELEASE_PLANNED:
        return (
            f"🔎 *Release planned* by {who} (dry run): {len(update.steps)} restorations listed,"
            " nothing was changed"
        )
    restored = sum(1 for step in update.steps if step.status in ("done", "unchanged"))
    kept = sum(1 for step in update.steps if step.status == "kept")
    return f"🔓 *Released* by {who}: {restored} restored and verified" + (f", {kept} kept" if kept else "")


def _restorations(update: Update) -> list[str]:
    return [
        f"{mrkdwn.mark(step.verified)} {mrkdwn.escape(step.name)} on `{mrkdwn.escape(step.target)}`:"
        f" {mrkdwn.escape(step.status)}"
        for step in update.steps
    ]


def _failed(update: Update) -> list[str]:
    lines = [f"❗ *Incident response failed*: {mrkdwn.escape(update.summary)}"]
    if update.reason:
        lines.append(mrkdwn.escape(update.reason))
    if update.next_step:
        lines.append(f"*What to do next*: {mrkdwn.escape(update.next_step)}")
    execution = mrkdwn.escape(update.execution_id or "unknown")
    lines.append(f"Incident `{mrkdwn.escape(update.incident_id or 'none')}` · execution `{execution}`")
    return lines


def _outcome(update: Update) -> list[str]:
    """How the incident ended: the decision, the outcome of each action, and a storm's resources."""
    lines = [f"🏁 Incident `{mrkdwn.escape(update.incident_id)}` closed"]
    decided = update.decided
    if decided is not None:
        by = decided.people[-1] if decided.people else None
        lines.append(mrkdwn.decision_text(decided.status, by, decided.people, decided.at))
    lines.append(mrkdwn.outcome_text(update.status, update.steps))
    if len(update.affected) > 1:
        lines.append(f"*{len(update.affected)} resources*:")
        lines += [f"• {mrkdwn.code(line)}" for line in update.affected[:_LISTED]]
        if len(update.affected) > _LISTED:
            more = len(update.affected) - _LISTED
            lines.append(f"…and {more} more: `tourniquet incident show {mrkdwn.escape(update.incident_id)}`")
    return lines
