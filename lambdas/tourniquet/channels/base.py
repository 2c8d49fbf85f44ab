"""What every channel receives (:class:`Update`) and the protocol it implements (:class:`Channel`).

An update is channel-neutral and plain text: each channel renders it in its own format and escapes it for
its own markup. Alert fields inside it are untrusted data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from tourniquet.secrets import SecretUnreadable, read_json_secret
from tourniquet.state import Verdict

Secret = TypeVar("Secret", bound=BaseModel)


class UpdateKind(StrEnum):
    # An incident that needs a person: an approval is requested, or nothing was done automatically.
    OPENED = "opened"
    # The first human decision or acknowledgement.
    ACKNOWLEDGED = "acknowledged"
    # An approval ran out of time: nobody decided, the pending steps did not run.
    EXPIRED = "expired"
    # The incident ended: contained, denied, planned (dry run) or resolved at its source.
    CLOSED = "closed"
    # The source says the problem is over.
    RESOLVED = "resolved"
    RELEASED = "released"
    # A release run as a dry run: what would be restored; nothing was changed.
    RELEASE_PLANNED = "release_planned"
    FAILED = "failed"
    # The same alert again, on an incident that already has its card.
    REPEATED = "repeated"


@dataclass(frozen=True)
class Step:
    """An action of the response (``mode`` auto or approval), or a restoration of a release, and how it
    ended."""

    name: str
    status: str
    verified: bool
    mode: str = ""
    target: str = ""


@dataclass(frozen=True)
class Decided:
    """How an approval ended (approved, denied, expired) or who released: people, and when."""

    status: str
    people: tuple[str, ...] = ()
    at: str | None = None


@dataclass(frozen=True)
class Update:
    """One change of an incident's status, for every channel."""

    kind: UpdateKind
    incident_id: str
    # A Severity value (CRITICAL … INFORMATIONAL), or "UNKNOWN" when a failure came before the alert was read.
    severity: str
    title: str
    # The status in a few plain words ("needs a human", "contained", "failed").
    status: str
    # What happened, on what, and what to do next, in plain words.
    summary: str
    playbook: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    diagnostics: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    # Who acknowledged, decided or released.
    by: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    count: int = 1
    # Where and by whom a pending approval is decided (Slack, and the CLI as the fallback).
    approval: str | None = None
    # The finding's source, account and resource, for channels that index by them (PagerDuty).
    source: str = "tourniquet"
    resource: str | None = None
    finding_type: str | None = None
    # What ran and how it ended (the actions of an outcome, the restorations of a release).
    steps: tuple[Step, ...] = ()
    decided: Decided | None = None
    # In the source's or the failed step's own words (never a stack trace), and what to do next.
    reason: str | None = None
    next_step: str | None = None
    execution_id: str | None = None
    # A storm's resources, one plain line each.
    affected: tuple[str, ...] = ()
    verdict: Verdict | None = None


class ChannelFailed(Exception):
    """A channel could not deliver an update; the message says why in plain words and names no secret."""


def channel_secret(arn: str | None, model: type[Secret], what: str, variable: str) -> Secret:
    """A channel's credential from Secrets Manager; :class:`ChannelFailed` names what is missing or wrong."""
    if not arn:
        raise ChannelFailed(f"no {what} is configured ({variable})")
    try:
        return read_json_secret(arn, model, what)
    except SecretUnreadable as exc:
        raise ChannelFailed(str(exc)) from exc


class Channel(Protocol):
    """A place people are told about incidents. ``connect`` reads its configuration and credential; ``send``
    delivers one update within ``bound``. Both raise :class:`ChannelFailed`; neither blocks another channel,
    an approval or the workflow (``routing``)."""

    name: ClassVar[str]
    # The kinds of update it tells; the others are not its to tell.
    kinds: ClassVar[frozenset[UpdateKind]]

    @classmethod
    def connect(cls) -> Channel: ...

    def send(self, update: Update, bound: Bound) -> None: ...


@runtime_checkable
class ReportChannel(Protocol):
    """A channel that also carries reports (the weekly report), which are about every incident and no one
    of them. ``title`` and ``text`` are plain text with alert fields inside: the channel escapes them for its
    own markup. Delivers within ``bound`` or raises :class:`ChannelFailed`."""

    def send_report(self, title: str, text: str, bound: Bound) -> None: ...


# What PagerDuty, Teams and e-mail tell: every change of status, not each repeat or dry run.
STATUS_CHANGES = frozenset(UpdateKind) - {UpdateKind.REPEATED, UpdateKind.RELEASE_PLANNED}


@dataclass(frozen=True)
class Bound:
    """How hard a channel tries: attempts, the timeout of each, and the time all of them may take."""

    attempts: int = 3
    timeout: float = 5.0
    total: float = 10.0


# Inside a step of the workflow (a function with 15 s): a few attempts.
STEP = Bound()
# Inside Slack's 3 s answer to a click: one quick try, the rest of the time is Slack's.
CLICK = Bound(attempts=1, timeout=1.0, total=1.0)

# A Python stack trace, or the frames of one: never shown to people (it stays in the logs).
_TRACE = re.compile(r"Traceback \(most recent call last\)|^\s*File \"[^\"]*\", line \d+", re.MULTILINE)


def plain(text: str, limit: int = 500) -> str:
    """``text`` for people: cut before any stack trace, on one line, at most ``limit`` characters."""
    found = _TRACE.search(text)
    kept = text[: found.start()] if found else text
    single = " ".join(kept.split())
    return single if len(single) <= limit else single[: limit - 1] + "…"


def has_stack_trace(text: str) -> bool:
    return _TRACE.search(text) is not None
