"""An alert's dedup key and correlation key, made of the fields its playbook names
(docs/dedup-and-correlation.md).

Alerts with the same dedup key are one problem: a later one is a copy and folds in as a duplicate. Alerts
with different dedup keys but the same correlation key are one storm: they open one incident, and each
later problem folds into it as a resource of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tourniquet.intake.model import Alert
from tourniquet.playbooks.catalog import DEFAULT_DEDUP_KEY, Playbook

_LABEL = "label:"


@dataclass(frozen=True)
class FoldKeys:
    """How one alert folds: its dedup key, its correlation key (None: it folds with no other problem), and
    whether its own resource is still contained when it folds into another problem's incident."""

    dedup: str
    correlation: str | None = None
    contain: bool = False


def fold_keys(alert: Alert, playbook: Playbook) -> FoldKeys:
    return FoldKeys(
        dedup=dedup_key(alert, playbook),
        correlation=correlation_key(alert, playbook),
        contain=playbook.contains,
    )


def dedup_key(alert: Alert, playbook: Playbook) -> str:
    """The key every source computes at intake, unless the playbook names other fields: a resolution from
    the source (which carries the intake's key) then finds the incident it resolves."""
    if playbook.dedup_key == DEFAULT_DEDUP_KEY:
        return alert.dedup_key
    # A field the alert does not have counts as empty: every alert has a dedup key.
    return _digest("dedup", playbook.id, [field_value(alert, name) or "" for name in playbook.dedup_key])


def correlation_key(alert: Alert, playbook: Playbook) -> str | None:
    """None when the playbook correlates nothing, or the alert lacks one of the fields (an alert that came
    in no group is correlated by group with no other)."""
    values = [field_value(alert, name) for name in playbook.correlation_key]
    if not values or any(value is None for value in values):
        return None
    # The playbook is part of the key: one group may carry alerts that different playbooks answer.
    return _digest("correlation", playbook.id, [value or "" for value in values])


def field_value(alert: Alert, name: str) -> str | None:
    """One key field of the alert (case-insensitive where the source's case means nothing)."""
    resource = alert.primary_resource
    actor = alert.actor
    values: dict[str, str | None] = {
        "account": alert.account,
        "region": alert.region,
        "source": alert.source,
        "type": alert.type.lower(),
        "resource": resource.id.lower() if resource else alert.finding_id,
        "finding": alert.finding_id,
        "group": alert.group_key,
        "actor": (actor.principal or actor.user_name or actor.access_key_id) if actor else None,
    }
    if name.startswith(_LABEL):
        return alert.labels.get(name.removeprefix(_LABEL))
    return values[name] or None


def _digest(kind: str, playbook: str, values: list[str]) -> str:
    # Each value's length goes first, so no choice of values can spell another's key.
    basis = "|".join([kind, playbook, *(f"{len(value)}:{value}" for value in values)])
    return hashlib.sha256(basis.encode()).hexdigest()[:32]
