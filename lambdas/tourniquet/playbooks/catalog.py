"""Playbooks as data (playbooks.toml): matched to alerts, turned into a plan the workflow carries out."""

from __future__ import annotations

import fnmatch
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tourniquet.intake.model import Alert, Severity

Mode = Literal["auto", "approval", "off"]


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[str, ...] = ()
    types: tuple[str, ...] = Field(default=(), description="Glob patterns on the alert type, case-insensitive.")
    resource_types: tuple[str, ...] = ()
    min_severity: Severity = Severity.INFORMATIONAL

    def fits(self, alert: Alert) -> bool:
        resource = alert.primary_resource
        return (
            (not self.sources or alert.source in self.sources)
            and (not self.types or any(fnmatch.fnmatch(alert.type.lower(), p.lower()) for p in self.types))
            and (not self.resource_types or (resource is not None and resource.type in self.resource_types))
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
    match: Match
    diagnostics: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()


@cache
def catalog() -> tuple[Playbook, ...]:
    data: dict[str, Any] = tomllib.loads((Path(__file__).with_name("playbooks.toml")).read_text())
    return tuple(Playbook.model_validate(entry) for entry in data["playbook"])


def select(alert: Alert) -> Playbook:
    for playbook in catalog():
        if playbook.match.fits(alert):
            return playbook
    raise LookupError("playbooks.toml: no catch-all playbook (a last entry with an empty match)")
