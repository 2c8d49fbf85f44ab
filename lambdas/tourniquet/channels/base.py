"""What every channel receives (:class:`Update`) and the protocol it implements (:class:`Channel`).

An update is channel-neutral and plain text: each channel renders it in its own format and escapes it for
its own markup. Alert fields inside it are untrusted data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol, TypeVar

from pydantic import BaseModel

from tourniquet.secrets import SecretUnreadable, read_json_secret

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
    RELEASED = "released"
    FAILED = "failed"


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
    """A place people are told about incidents. ``send`` delivers one update within ``bound`` or raises
    :class:`ChannelFailed`; it never blocks another channel, an approval or the workflow (``routing``)."""

    name: ClassVar[str]

    def send(self, update: Update, bound: Bound) -> None: ...


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
