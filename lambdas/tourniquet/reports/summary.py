"""What happened to the incidents opened in a period: read from the table, summed up for people.

Incidents are found through the by-type index (``store.incidents``); each incident's timeline is the record
the figures come from, read the same way as ``measures`` reads it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tourniquet import store
from tourniquet.incidents.measures import TIME_TO_NOTIFY, Measures, measure

TOP_RESOURCES = 10


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
        return str(self.item.get("status") or "open")

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
    def measures(self) -> Measures:
        """The figures from the timeline; the time to notify as the Notify step recorded it, since the
        timeline does not say when an outcome notice went out."""
        figures = measure(self.timeline)
        notified = (self.item.get("measures") or {}).get(TIME_TO_NOTIFY)
        return replace(figures, notify=float(notified)) if notified is not None else figures


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


def read(since: str) -> Iterator[Incident]:
    """The incidents first seen at or after ``since`` (ISO 8601 UTC), oldest first, each with its timeline."""
    for item in reversed(store.incidents(since=since)):
        yield Incident(item=item, timeline=store.timeline(str(item["incident_id"])))


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
        for event in incident.timeline:
            if event.get("kind") == "decision":
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
