"""Playbooks as data: matched to alerts, turned into a plan the workflow carries out.

The bundled ``playbooks.toml`` is the default; a deployment names its own file (config key ``playbooks``),
which the functions read from ``PLAYBOOKS_FILE``. Either is validated as a whole when loaded: the synth
refuses a file the functions could not use, with an error naming the file, the playbook and the key.
"""

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


BUNDLED = Path(__file__).with_name("playbooks.toml")
# A relative PLAYBOOKS_FILE is found in the function's asset, beside the runtime package.
ASSET_ROOT = Path(__file__).resolve().parents[2]


class PlaybookError(ValueError):
    """A playbooks file that cannot be used; the message names the file, the playbook and the key."""


@cache
def catalog(path: Path | None = None) -> tuple[Playbook, ...]:
    """The playbooks in ``path`` (relative to the asset root), or the bundled ones, in matching order."""
    return load(ASSET_ROOT / path if path is not None else BUNDLED)


def load(path: Path) -> tuple[Playbook, ...]:
    """Every playbook in the file, each as the model says, ids unique, the last catching every alert;
    :class:`PlaybookError` on the first problem. What the functions read (the synth checked the rest)."""
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise PlaybookError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PlaybookError(f"{path}: not valid TOML: {exc}") from exc
    entries = data.get("playbook")
    if set(data) != {"playbook"} or not isinstance(entries, list) or not entries:
        raise PlaybookError(f"{path}: expected only [[playbook]] tables, at least one")
    playbooks: list[Playbook] = []
    for index, entry in enumerate(entries):
        given = entry.get("id") if isinstance(entry, dict) else None
        name = f"playbook {given!r}" if isinstance(given, str) else f"playbook #{index + 1}"
        try:
            playbook = Playbook.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"]) or "(the table)"
            raise PlaybookError(f"{path}: {name}: key '{key}': {error['msg']}") from None
        if playbook.id in (p.id for p in playbooks):
            raise PlaybookError(f"{path}: {name}: key 'id': another playbook above has this id")
        playbooks.append(playbook)
    if playbooks[-1].match != Match():
        raise PlaybookError(
            f"{path}: playbook {playbooks[-1].id!r}: key 'match': the last playbook must catch every alert "
            "(an empty match), so that no alert goes without one"
        )
    return tuple(playbooks)


def validate(path: Path) -> tuple[Playbook, ...]:
    """:func:`load`, and each action checked against the containment actions: the synth's check (and
    ``tourniquet playbooks validate``). An action listed twice, one not built unless ``off``, or a
    destructive one as ``auto`` is refused."""
    # Loaded here only: the Plan function reads playbooks the synth has validated, without containment.
    from tourniquet.containment.registry import ACTIONS  # noqa: PLC0415

    playbooks = load(path)
    for playbook in playbooks:
        seen: set[str] = set()
        for index, action in enumerate(playbook.actions):
            where = f"{path}: playbook {playbook.id!r}: key 'actions.{index}"
            implemented = ACTIONS.get(action.name)
            if action.name in seen:
                raise PlaybookError(f"{where}.name': {action.name} is listed twice")
            seen.add(action.name)
            if implemented is None and action.mode != "off":
                known = ", ".join(sorted(ACTIONS))
                raise PlaybookError(
                    f"{where}.name': no containment action {action.name!r} (known: {known}); one not built "
                    "must be 'off'"
                )
            if implemented is not None and implemented.destructive and action.mode == "auto":
                raise PlaybookError(f"{where}.mode': {action.name} is destructive, so it cannot be 'auto'")
    return playbooks


def select(alert: Alert, playbooks: tuple[Playbook, ...] | None = None) -> Playbook:
    for playbook in playbooks if playbooks is not None else catalog():
        if playbook.match.fits(alert):
            return playbook
    raise LookupError("no catch-all playbook (a last entry with an empty match)")
