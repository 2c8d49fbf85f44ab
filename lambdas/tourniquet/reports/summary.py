"""What happened to the incidents opened in a period: read from the table, summed up for people.

Incidents are found through the by-type index (``store.incidents``). Their figures are the ones the Notify
step saved on the incident item, which the dashboard shows too; an incident without them (still open) is
measured from its timeline. The timelines give the approvers and the folded duplicates.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from tourniquet import store
from tourniquet.incidents.measures import Measures, is_decision, measure, saved

TOP_RESOURCES = 10
# Timelines are read a few at a time, so that a week of incidents fits the weekly report's Lambda timeout.
_PARALLEL_READS = 8


@dataclass(frozen=True)
class Incident:
    """One incident as the report reads it: the incident item and its timeline."""

    item: dict[str, Any]
    timeline: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.item.get("incident_id", ""))

    @property
    def type(self) -> str:
        return str(self.item.get("type") or "unknown")

    @property
    def outcome(self) -> str:
        """How the incident ended; a released incident keeps the outcome its workflow recorded."""
        status = str(self.item.get("status") or "open")
        if status == "released":
            ended = [e.get("status") for e in self.timeline if e.get("kind") == "outcome" and e.get("status")]
            return str(ended[-1]) if ended else status
        return status

    @property
    def opened(self) -> str:
        return str(self.item.get("first_seen", ""))

    @property
    def resource(self) -> str | None:
        """The alert's primary resource, as ``type id``."""
        resources = (self.item.get("alert") or {}).get("resources") or []
        first = resources[0] if resources and isinstance(resources[0], dict) else None
        return f"{first.get('type', '')} {first['id']}".strip() if first and first.get("id") else None

    @property
    def duplicates(self) -> int:
        return sum(1 for event in self.timeline if event.get("kind") == "duplicate")

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The decisions on the incident's own approval (not on a later release)."""
        release = self.item.get("release_approval_id")
        return [event for event in self.timeline if is_decision(event, release_approval_id=release)]

    @property
    def measures(self) -> Measures:
        """The figures the Notify step saved on the incident, or, before it did, those of the timeline."""
        figures = self.item.get("measures")
        return saved(figures) if figures else measure(self.timeline)


@dataclass(frozen=True)
class Spread:
    """The median and the 90th percentile of some seconds, and how many there were."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            return cls()
        return cls(len(ordered), _percentile(ordered, 50), _percentile(ordered, 90))


@dataclass(frozen=True)
class Report:
    since: str
    until: str
    incidents: int
    by_type: dict[str, dict[str, int]]
    by_outcome: dict[str, int]
    time_to_contain: Spread
    time_to_decide: Spread
    approvals_by_approver: dict[str, dict[str, int]]
    duplicates_folded: int
    top_resources: list[dict[str, Any]]
    listed: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def read(since: str, until: str | None = None) -> Iterator[Incident]:
    """The incidents first seen at or after ``since`` (and before ``until``; ISO 8601 UTC), oldest first, each
    with its timeline."""
    items = [
        item
        for item in reversed(store.incidents(since=since))
        if until is None or str(item.get("gsi1sk", "")) < until
    ]
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(len(items), _PARALLEL_READS)) as pool:
        timelines = pool.map(lambda item: store.timeline(str(item["incident_id"])), items)
        for item, timeline in zip(items, timelines, strict=True):
            yield Incident(item=item, timeline=timeline)


def summarize(incidents: Sequence[Incident], since: str, until: str) -> Report:
    """``since`` and ``until`` (ISO 8601 UTC) are the period the incidents were read for."""
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    approvals: dict[str, Counter[str]] = defaultdict(Counter)
    resources: Counter[str] = Counter()
    outcomes = Counter(incident.outcome for incident in incidents)
    contain: list[float] = []
    decide: list[float] = []
    for incident in incidents:
        by_type[incident.type][incident.outcome] += 1
        if incident.resource:
            resources[incident.resource] += 1
        figures = incident.measures
        if figures.contain is not None:
            contain.append(figures.contain)
        if figures.decision is not None:
            decide.append(figures.decision)
        for event in incident.decisions:
            decision = str(event.get("decision", ""))
            for person in event.get("approvers") or [event.get("actor")]:
                approvals[str(person)][decision] += 1
    return Report(
        since=since,
        until=until,
        incidents=len(incidents),
        by_type={kind: dict(counts) for kind, counts in sorted(by_type.items())},
        by_outcome=dict(sorted(outcomes.items(), key=lambda pair: (-pair[1], pair[0]))),
        time_to_contain=Spread.of(contain),
        time_to_decide=Spread.of(decide),
        approvals_by_approver={person: dict(counts) for person, counts in sorted(approvals.items())},
        duplicates_folded=sum(incident.duplicates for incident in incidents),
        top_resources=[
            {"resource": resource, "incidents": count}
            for resource, count in resources.most_common(TOP_RESOURCES)
        ],
        listed=[
            {
                "incident_id": incident.id,
                "opened": incident.opened,
                "type": incident.type,
                "severity": incident.item.get("severity"),
                "outcome": incident.outcome,
                "playbook": incident.item.get("playbook"),
                "resource": incident.resource,
                "duplicates": incident.duplicates,
                **{name: value for name, value in asdict(incident.measures).items()},
            }
            for incident in incidents
        ],
    )


def _percentile(ordered: Sequence[float], percent: float) -> float:
    """Linear interpolation between the closest ranks (as spreadsheets compute PERCENTILE)."""
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 3)
