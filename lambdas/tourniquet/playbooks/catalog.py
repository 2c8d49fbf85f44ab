"""Playbooks as data (playbooks.toml): matched to alerts, turned into a plan the workflow carries out."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tourniquet.intake.model import Alert, Severity

Mode = Literal["auto", "approval", "off"]


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(value: str) -> str:
    """``APIRateSpike`` → ``api_rate_spike`` and ``ec2-cpu-high`` → ``ec2_cpu_high``, for type patterns."""
    return re.sub(r"[^a-z0-9]+", "_", _WORD_BOUNDARY.sub("_", value).lower()).strip("_")


def _glob(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)


class Match(BaseModel):
    """Which alerts a playbook answers. Every field given must fit; an empty match fits every alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[str, ...] = Field(default=(), description="How the alert arrived (guardduty, grafana…).")
    products: tuple[str, ...] = Field(
        default=(), description="What produced it, case-insensitive: GuardDuty findings via Security Hub too."
    )
    types: tuple[str, ...] = Field(
        default=(),
        description="Glob patterns on the alert type, case-insensitive, tried on the type as given and on "
        "its snake_case form (alarm and alert names: ApiRateSpike is api_rate_spike).",
    )
    categories: tuple[str, ...] = Field(default=(), description="Glob patterns on the category.")
    resource_types: tuple[str, ...] = Field(default=(), description="The subject resource's ASFF type.")
    labels: dict[str, str] = Field(default_factory=dict, description="Label name → glob; all must fit.")
    min_severity: Severity = Severity.INFORMATIONAL

    def fits(self, alert: Alert) -> bool:
        resource = alert.primary_resource
        return (
            (not self.sources or alert.source in self.sources)
            and (not self.products or alert.product.lower() in (p.lower() for p in self.products))
            and (not self.types or _glob(alert.type, self.types) or _glob(snake(alert.type), self.types))
            and (not self.categories or _glob(alert.category, self.categories))
            and (not self.resource_types or (resource is not None and resource.type in self.resource_types))
            and all(_glob(alert.labels.get(name, ""), (pattern,)) for name, pattern in self.labels.items())
            and alert.severity.rank >= self.min_severity.rank
        )


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    mode: Mode


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    runbook: str
    # The runbook's first manual steps, shown on the Slack card.
    next_steps: tuple[str, ...] = ()
    match: Match
    actions: tuple[Action, ...] = ()
    # Who may approve this playbook's actions: Slack user ids and user group ids (``S…``). Empty means the
    # deployment's APPROVERS and APPROVER_GROUPS.
    approvers: tuple[str, ...] = ()


@cache
def catalog() -> tuple[Playbook, ...]:
    data: dict[str, Any] = tomllib.loads((Path(__file__).with_name("playbooks.toml")).read_text())
    return tuple(Playbook.model_validate(entry) for entry in data["playbook"])


def select(alert: Alert) -> Playbook:
    for playbook in catalog():
        if playbook.match.fits(alert):
            return playbook
    raise LookupError("playbooks.toml: no catch-all playbook (a last entry with an empty match)")
