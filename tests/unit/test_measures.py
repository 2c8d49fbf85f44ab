"""An incident's figures, read from its timeline: seconds from its opening to each milestone."""

from __future__ import annotations

from typing import Any

from tourniquet.incidents.measures import (
    TIME_TO_CONTAIN,
    TIME_TO_DECISION,
    TIME_TO_DESTRUCTIVE_STEP,
    TIME_TO_NOTIFY,
    Measures,
    measure,
)


def at(second: float) -> str:
    return f"2026-12-01T10:00:{second:06.3f}Z"


def action(second: float, mode: str, status: str = "done", verified: bool = True) -> dict[str, Any]:
    return {"kind": "action", "at": at(second), "mode": mode, "status": status, "verified": verified}


TIMELINE = [
    {"kind": "opened", "at": at(0)},
    # Neither an unchanged target nor an unverified change contains anything.
    action(1.0, "auto", status="unchanged"),
    action(1.5, "auto", verified=False),
    action(2.25, "auto"),
    action(2.5, "auto"),
    {"kind": "approval_requested", "at": at(3), "posted": True},
    {"kind": "partial_approval", "at": at(10)},
    {"kind": "decision", "at": at(12.5), "decision": "approve"},
    action(13, "approval", status="refused", verified=False),
    action(14, "approval"),
]


def test_each_figure_counts_from_the_opening_to_the_first_event_that_ends_its_wait():
    # Stored in key order, which is not always time order.
    figures = measure(list(reversed(TIMELINE)), notified_at=at(20))

    assert figures == Measures(notify=3.0, contain=2.25, decision=12.5, destructive=14.0)
    assert figures.by_name() == {
        TIME_TO_NOTIFY: 3.0,
        TIME_TO_CONTAIN: 2.25,
        TIME_TO_DECISION: 12.5,
        TIME_TO_DESTRUCTIVE_STEP: 14.0,
    }


def test_without_a_card_people_are_told_by_the_outcome_notice():
    figures = measure([{"kind": "opened", "at": at(0)}, action(1, "auto")], notified_at=at(4))

    assert figures == Measures(notify=4.0, contain=1.0)


def test_a_card_that_could_not_be_posted_told_nobody():
    timeline = [{"kind": "opened", "at": at(0)}, {"kind": "approval_requested", "at": at(3), "posted": False}]

    assert measure(timeline).notify is None


def test_what_did_not_happen_has_no_figure_and_an_expiry_is_no_decision():
    timeline = [
        {"kind": "opened", "at": at(0)},
        {"kind": "approval_requested", "at": at(1), "posted": True},
        {"kind": "approval_expired", "at": at(30)},
    ]

    assert measure(timeline).by_name() == {TIME_TO_NOTIFY: 1.0}


def test_a_timeline_without_its_opening_has_no_figures():
    assert measure([action(1, "auto")], notified_at=at(2)) == Measures()


def test_approving_a_release_is_not_the_incident_decision():
    released = [
        {"kind": "opened", "at": at(0)},
        {"kind": "decision", "at": at(50), "decision": "approve", "actions": ["release"]},
    ]

    assert measure(released).decision is None
    assert measure([*released, {"kind": "decision", "at": at(9), "decision": "deny"}]).decision == 9.0
