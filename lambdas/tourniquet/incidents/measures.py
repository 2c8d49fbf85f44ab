"""How fast an incident was handled, read from its timeline: the figures auditors ask for.

Every figure counts seconds from the moment the incident was opened (its ``opened`` event):

- time to notify: until people were first told (the approval card, or the outcome when no card was posted);
- time to contain: until the first automatic action that changed its target and was verified;
- time to decision: until the approvers approved or denied (an expired request has none; approving a later
  release is not the incident's decision);
- time to the destructive step: until the first approved action that changed its target and was verified.

This module is the one source of the metric names: the Notify step emits them, the stack's dashboard shows
them, and ``tourniquet report`` computes the same figures from the same timeline. It imports nothing
heavier than the standard library, so the stack can read the names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NAMESPACE = "Tourniquet"
SERVICE = "tourniquet"
# Each figure is emitted twice: with the service as its one dimension, and by playbook and outcome.
DIMENSIONS = ("playbook", "outcome")

TIME_TO_NOTIFY = "TimeToNotify"
TIME_TO_CONTAIN = "TimeToContain"
TIME_TO_DECISION = "TimeToDecision"
TIME_TO_DESTRUCTIVE_STEP = "TimeToDestructiveStep"
INCIDENTS_CLOSED = "IncidentsClosed"
TIMES = (TIME_TO_NOTIFY, TIME_TO_CONTAIN, TIME_TO_DECISION, TIME_TO_DESTRUCTIVE_STEP)


@dataclass(frozen=True)
class Measures:
    """Seconds from the incident's opening; None for what did not happen."""

    notify: float | None = None
    contain: float | None = None
    decision: float | None = None
    destructive: float | None = None

    def by_name(self) -> dict[str, float]:
        """The figures that exist, by metric name."""
        named = {
            TIME_TO_NOTIFY: self.notify,
            TIME_TO_CONTAIN: self.contain,
            TIME_TO_DECISION: self.decision,
            TIME_TO_DESTRUCTIVE_STEP: self.destructive,
        }
        return {name: value for name, value in named.items() if value is not None}


def moment(value: Any) -> datetime | None:
    """A recorded ISO 8601 time (``2026-01-01T00:00:00.000Z``), or None when there is none."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


Since = Callable[[Any], float | None]


def since_opened(timeline: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], Since] | None:
    """The events in time order, and the seconds from the opening to a recorded time (None for none); None
    when the timeline has no ``opened`` event to count from."""
    events = sorted(timeline, key=lambda event: str(event.get("at", "")))
    opened = next((moment(e.get("at")) for e in events if e.get("kind") == "opened"), None)
    if opened is None:
        return None

    def since(value: Any) -> float | None:
        at = moment(value)
        return round(max((at - opened).total_seconds(), 0.0), 3) if at is not None else None

    return events, since


def measure(timeline: Iterable[Mapping[str, Any]], *, notified_at: str | None = None) -> Measures:
    """The figures of one incident's timeline; ``notified_at`` is when the outcome notice went out, for an
    incident that posted no approval card."""
    counted = since_opened(timeline)
    if counted is None:
        return Measures()
    events, since = counted

    def first(matches: Any) -> float | None:
        return next((since(e.get("at")) for e in events if matches(e)), None)

    card = first(lambda e: e.get("kind") == "approval_requested" and e.get("posted") is not False)
    return Measures(
        notify=card if card is not None else since(notified_at),
        contain=first(lambda e: _changed(e, "auto")),
        decision=first(is_decision),
        destructive=first(lambda e: _changed(e, "approval")),
    )


def is_decision(event: Mapping[str, Any], *, release_approval_id: str | None = None) -> bool:
    """A decision on the incident's own approval: approving a release writes a decision event too, for the
    release offer's approval (``release_approval_id`` on the incident item), as does each of a storm's
    folded resources (``folded``)."""
    return (
        event.get("kind") == "decision"
        and not event.get("folded")
        and list(event.get("actions") or []) != ["release"]
        and (release_approval_id is None or event.get("approval_id") != release_approval_id)
    )


def saved(figures: Mapping[str, Any]) -> Measures:
    """The figures the Notify step saved on the incident item (by metric name)."""

    def seconds(name: str) -> float | None:
        value = figures.get(name)
        return float(value) if value is not None else None

    return Measures(
        notify=seconds(TIME_TO_NOTIFY),
        contain=seconds(TIME_TO_CONTAIN),
        decision=seconds(TIME_TO_DECISION),
        destructive=seconds(TIME_TO_DESTRUCTIVE_STEP),
    )


def _changed(event: Mapping[str, Any], mode: str) -> bool:
    """An action of ``mode`` that changed its target and whose fresh read proved it."""
    return (
        event.get("kind") == "action"
        and event.get("mode") == mode
        and event.get("status") == "done"
        and event.get("verified") is True
    )
