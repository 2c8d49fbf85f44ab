"""A failed run in plain words: what failed, on what, and what to do next.

The Step Functions error name becomes a sentence; the function's own message (never its stack trace, which
stays in the log and the execution history) follows it on every channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tourniquet.channels import plain
from tourniquet.state import StepError

_GENERIC_NEXT = (
    "Nothing more runs for this incident. Check the resource by hand; {timeline}; the workflow's execution "
    "history in Step Functions has the technical details."
)
# What each error means, and what to do about it.
_WORDS = {
    "States.Timeout": ("a step took longer than its time limit", _GENERIC_NEXT),
    "States.HeartbeatTimeout": ("a step stopped answering", _GENERIC_NEXT),
    "InvalidAlert": (
        "the alert could not be read",
        "Check the sender's payload against docs/alert-schema.json; nothing was changed.",
    ),
    "Throttled": (
        "AWS kept throttling the calls after every retry",
        "Wait a few minutes, then handle it by hand; {timeline}.",
    ),
    "ContainmentFailed": (
        "containment could not be carried out",
        "Contain the resource by hand (the runbook has the steps); {timeline}.",
    ),
    "VerificationFailed": (
        "an action ran but re-reading the resource did not prove it took effect",
        "Check the resource by hand before trusting it is contained; {timeline}.",
    ),
    "TargetNotFound": (
        "the resource the alert names does not exist (any more)",
        "Check whether it was deleted or renamed; {timeline}.",
    ),
    "OutOfScope": (
        "the target's account or region is not one Tourniquet acts in",
        "Handle it by hand in that account, or add it to the scope (docs/organization.md).",
    ),
    "MemberRoleUnavailable": (
        "Tourniquet's role in the target's account could not be assumed",
        "Check that the member stack is deployed in that account (docs/organization.md); {timeline}.",
    ),
    "EscalationFailed": ("the escalation topic could not be published to", _GENERIC_NEXT),
    "ReleaseFailed": (
        "the release could not restore everything",
        "Some resources may still be contained: {timeline}; retry the release with `tourniquet release`.",
    ),
}


@dataclass(frozen=True)
class Told:
    what: str
    next: str
    severity: str
    title: str
    playbook: str


def told(error: StepError, incident_id: str | None, state: dict[str, Any]) -> Told:
    """``error`` in plain words, about the incident and resource the failed ``state`` names."""
    what, next_step = _WORDS.get(
        error.error, (f"a step of the response failed ({error.error})", _GENERIC_NEXT)
    )
    alert, plan = _mapping(state, "alert"), _mapping(state, "plan")
    target = _mapping(plan, "target")
    resource = target.get("id") or _first_resource(alert)
    on = f" on {plain(str(resource), 200)}" if resource else ""
    timeline = (
        f"the timeline (`tourniquet incident show {incident_id}`) lists every step taken so far"
        if incident_id
        else "no incident was opened, the execution history lists every step"
    )
    return Told(
        what=f"{what}{on}",
        next=next_step.format(timeline=timeline),
        severity=str(alert.get("severity") or "UNKNOWN"),
        title=plain(str(alert.get("title") or "Incident response failed"), 200),
        playbook=str(plan.get("playbook") or ""),
    )


def _mapping(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """A part of the failed state, read leniently: a failure report must never fail on its input."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _first_resource(alert: dict[str, Any]) -> str | None:
    resources = alert.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], dict):
        value = resources[0].get("id")
        return str(value) if value else None
    return None
