"""How a timeline event reads in one line, the same in the terminal and on the incident page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What an event shows after its kind, in this order, when present.
FIELDS = (
    "check",
    "action",
    "step",
    "network_interface",
    "group",
    "mode",
    "playbook",
    "status",
    "decision",
    "change",
    "risk_score",
    "result",
    "seen",
    "reason",
    "error",
)


def detail(event: Mapping[str, Any]) -> str:
    """``check=ec2_instance status=ok``: the event's fields that have a value."""
    return " ".join(f"{key}={event[key]}" for key in FIELDS if event.get(key) not in (None, ""))


def target(value: Any) -> str:
    """The id an action acted on (recorded as the target itself or as its id)."""
    if isinstance(value, dict):
        return str(value.get("id", ""))
    return str(value or "")
