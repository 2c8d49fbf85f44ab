"""Playbooks as data (playbooks.toml): matched to alerts, turned into a plan the workflow carries out."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tourniquet.intake.model import Alert, Severity

Mode = Literal["auto", "approval", "off"]

# The alert fields a dedup or correlation key may be made of (docs/dedup-and-correlation.md), besides
# ``label:<name>``: one of the alert's labels.
KEY_FIELDS = ("account", "region", "source", "type", "resource", "finding", "group", "actor")
# The same problem: same account, region, type and resource (the key every source computes at intake).
DEFAULT_DEDUP_KEY = ("account", "region", "type", "resource")
# One storm: the alerts a sender delivered as one group (Alertmanager's and Grafana's groupKey).
DEFAULT_CORRELATION_KEY = ("group",)
_LABEL = "label:"


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
    # What makes two alerts the same problem (a copy folds in as a duplicate) ...
    dedup_key: tuple[str, ...] = DEFAULT_DEDUP_KEY
    # ... and what makes different problems one incident (each folds in as a resource of its own). Empty:
    # every problem is an incident of its own.
    correlation_key: tuple[str, ...] = DEFAULT_CORRELATION_KEY

    @field_validator("dedup_key", "correlation_key")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in KEY_FIELDS and not (name.startswith(_LABEL) and len(name) > len(_LABEL)):
                raise ValueError(f"unknown field {name!r}: expected {', '.join(KEY_FIELDS)} or label:<name>")
        if len(set(value)) != len(value):
            raise ValueError("a field is named twice")
        return value

    @field_validator("dedup_key")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(
                "needs at least one field: an empty key would fold every alert into one incident"
            )
        return value

    @property
    def contains(self) -> bool:
        """Whether any action may run (automatically or once approved): a folded alert's resource is then
        contained on its own."""
        return any(action.mode != "off" for action in self.actions)


class CatalogError(ValueError):
    """playbooks.toml does not describe valid playbooks; the message names the playbook and the field."""


@cache
def catalog() -> tuple[Playbook, ...]:
    return load((Path(__file__).with_name("playbooks.toml")).read_text())


def load(text: str) -> tuple[Playbook, ...]:
    """The playbooks a catalog's TOML describes, or :class:`CatalogError` naming the first mistake."""
    data: dict[str, Any] = tomllib.loads(text)
    playbooks = []
    for index, entry in enumerate(data.get("playbook") or []):
        try:
            playbooks.append(Playbook.model_validate(entry))
        except ValidationError as exc:
            error = exc.errors()[0]
            name = entry.get("id") if isinstance(entry, dict) else None
            where = ".".join(str(part) for part in error["loc"]) or "entry"
            problem = str(error["msg"]).removeprefix("Value error, ")
            raise CatalogError(
                f"playbooks.toml: playbook {name or f'#{index + 1}'!s}: {where}: {problem}"
            ) from exc
    return tuple(playbooks)


def select(alert: Alert) -> Playbook:
    for playbook in catalog():
        if playbook.match.fits(alert):
            return playbook
    raise LookupError("playbooks.toml: no catch-all playbook (a last entry with an empty match)")
