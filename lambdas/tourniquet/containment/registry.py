"""Every containment action by name, and the order release undoes them in."""

from __future__ import annotations

from typing import Any

from tourniquet import errors
from tourniquet.containment import actions, instance_access, principal_actions
from tourniquet.containment.actions import Action

ACTIONS: dict[str, Action[Any]] = {
    **actions.ACTIONS,
    **instance_access.ACTIONS,
    **principal_actions.ACTIONS,
}

# The order a playbook runs them in: evidence kept and requested, the fleet left, then isolation, and the rest
# after it (docs/containment.md). Release goes backwards: the instance gets its own role back, then its
# addresses and groups, and rejoins its load balancers only once its network is back.
CONTAINMENT_ORDER = (
    "lift_protection",
    "preserve_evidence",
    "snapshot_volumes",
    "detach_from_scaling",
    "isolate_network",
    "tag_instance",
    "disassociate_eip",
    "quarantine_instance_profile",
    "revoke_role_sessions",
    "stop_instance",
    "deactivate_access_key",
    "attach_deny_policy",
    "revoke_sessions",
    "disable_console_login",
)


def get(name: str) -> Action[Any]:
    try:
        return ACTIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIONS))
        raise errors.ContainmentFailed(
            f"unknown containment action {name!r}; known actions: {known}"
        ) from None
