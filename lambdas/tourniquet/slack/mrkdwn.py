"""Slack mrkdwn, shared by the Slack channel (``tourniquet.channels.slack``) and the approval cards.

Every alert field is untrusted: it is escaped so that it cannot mention ``@channel`` or forge a link or a
mention, and clipped so that a long field cannot make a post fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from tourniquet.intake.model import Severity
from tourniquet.state import Verdict

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000

SEVERITY_EMOJI = {
    Severity.CRITICAL: "🔴",
    Severity.HIGH: "🟠",
    Severity.MEDIUM: "🟡",
    Severity.LOW: "🔵",
    Severity.INFORMATIONAL: "⚪",
}
# An incident with no automatic action: the status people see instead of "closed".
NEEDS_A_HUMAN = "needs a human"

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")


class Step(Protocol):
    """An action of the response and how it ended."""

    @property
    def name(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def verified(self) -> bool: ...


def escape(text: str) -> str:
    """Slack mrkdwn escaping: the only characters Slack interprets as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shorten already-escaped text to ``limit`` characters without cutting an entity in half."""
    if len(text) <= limit:
        return text
    return _ENTITY_TAIL.sub("", text[: limit - 1]) + "…"


def code(text: str) -> str:
    """Untrusted text as inline code (a backtick inside would close it early)."""
    quoted = escape(text).replace("`", "'")
    return f"`{quoted}`"


def who_text(by: str | None) -> str:
    """A Slack user as a mention; any other principal (the CLI's IAM identity) as escaped code."""
    if by is None:
        return "unknown"
    return f"<@{by}>" if _SLACK_USER.match(by) else f"`{escape(by)}`"


def people_text(people: tuple[str, ...]) -> str:
    names = [who_text(person) for person in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def when_text(iso: str | None) -> str:
    """A Slack date token: each reader sees their own time zone; the fallback is the UTC time."""
    if not iso:
        return "at an unknown time"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return escape(iso)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def mark(verified: bool) -> str:
    return "✅" if verified else "⚠️"


def decision_text(status: str, by: str | None, approvers: tuple[str, ...], at: str | None) -> str:
    """How an approval ended (``approved``, ``denied``, ``expired``), or that it still waits."""
    who = who_text(by)
    when = f" {when_text(at)}" if at else ""
    if status == "approved" and len(approvers) > 1:
        return f"✅ *Approved* by {people_text(approvers)}{when}"
    if status == "approved":
        return f"✅ *Approved* by {who}{when}"
    if status == "denied":
        return f"⛔ *Denied* by {who}{when}"
    if status == "expired":
        return f"⌛ *Expired*{when}: no decision reached the workflow in time"
    return "⏳ *Waiting for a decision*"


def outcome_text(status: str, steps: Iterable[Step]) -> str:
    """The outcome and each action's result; an incident nothing was done for needs a human."""
    if status == "alerted":
        lines = [f"🙋 *Status: {NEEDS_A_HUMAN}*: nothing was done automatically"]
    else:
        lines = [f"*Outcome: {escape(status)}*"]
    lines += [
        f"{mark(step.verified)} {escape(step.name)} ({escape(step.mode)}): {escape(step.status)}"
        f"{'' if step.verified else ', not verified'}"
        for step in steps
    ]
    return clip("\n".join(lines), SECTION_LIMIT)


def verdict_line(verdict: Verdict) -> str:
    """The verdict in one line; its reasons go in the thread (:func:`verdict_thread`)."""
    look = "👀 *analyst action required*" if verdict.analyst_action_required else "no analyst action required"
    tactics = ", ".join(t.name for t in verdict.tactics[:3])
    parts = [
        f"🧭 *Triage*: risk *{verdict.risk_score}*/100",
        f"{SEVERITY_EMOJI[verdict.severity]} {verdict.severity.value}",
        look,
        *([escape(tactics)] if tactics else []),
        *(["model raised it"] if verdict.model is not None and verdict.model.status == "raised" else []),
    ]
    return clip(" · ".join(parts), FIELD_LIMIT)


def verdict_thread(verdict: Verdict) -> str:
    """The verdict's reasons, for the thread: every point of the score with its reason, why a person must
    look, the ATT&CK tactics and techniques, the indicators, and what the model did."""
    lines = [f"🧭 *Triage*: {escape(verdict.summary)}", f"*Risk {verdict.risk_score}/100*"]
    lines += [f"• {r.points:+d} {escape(r.reason)}" for r in verdict.reasons]
    if verdict.attention:
        lines.append("*Why a person must look*: " + escape("; ".join(verdict.attention)))
    attacks = [f"{t.uid} {t.name}" for t in (*verdict.tactics, *verdict.techniques)]
    if attacks:
        lines.append("*ATT&amp;CK*: " + escape(", ".join(attacks)))
    if verdict.iocs:
        lines.append(
            "*Indicators*: " + ", ".join(f"`{escape(i.value)}` ({i.type})" for i in verdict.iocs[:10])
        )
    model = verdict.model
    if model is not None:
        what = f"raised {', '.join(model.raised)}" if model.raised else model.status
        why = "" if model.status == "raised" else f": {model.reason}"
        lines.append(escape(f"Model {model.model_id}: {what}{why}"))
    return clip("\n".join(lines), SECTION_LIMIT)
