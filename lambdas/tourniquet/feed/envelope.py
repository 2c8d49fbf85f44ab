"""The SIEM envelope: one versioned message per change of an incident (docs/siem-envelope-schema.json).

The envelope ``id`` is the same whenever the same change is announced again (a retried step), so a SIEM drops
repeats by it; SQS standard queues deliver at least once in any case.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tourniquet.intake.model import Alert, Severity
from tourniquet.state import ApprovalResult, Outcome, Verdict

ENVELOPE_VERSION: Final = "1"

Change = Literal["opened", "decided", "closed", "failed", "resolved", "released"]


def _schema_extra(schema: dict[str, Any]) -> None:
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class ResourceRef(_Part):
    type: str
    id: str


class FindingSummary(_Part):
    """The finding the incident is about, as the SIEM correlates it with its own copy."""

    source: str
    product: str
    finding_id: str
    type: str
    title: str
    severity: Severity
    account: str
    region: str
    resources: tuple[ResourceRef, ...] = ()
    first_seen: str | None = None
    last_seen: str
    drill: bool = False


class DecisionSummary(_Part):
    decision: str
    by: str | None = None
    at: str | None = None


class ActionSummary(_Part):
    name: str
    mode: str
    status: str
    verified: bool


class OutcomeSummary(_Part):
    status: str
    actions: tuple[ActionSummary, ...] = ()


class Envelope(BaseModel):
    """One change of one incident, for the SIEM."""

    model_config = ConfigDict(frozen=True, title="Tourniquet SIEM envelope", json_schema_extra=_schema_extra)

    schema_version: Literal["1"] = ENVELOPE_VERSION
    id: str = Field(description="Stable per incident and change: a SIEM drops repeats by it.")
    change: Change = Field(description="What changed: opened, decided, closed, failed, resolved, released.")
    time: str = Field(description="When the change was announced, ISO 8601 UTC.")
    incident_id: str
    status: str = Field(description="The incident's status after the change.")
    finding: FindingSummary
    verdict: Verdict | None = Field(default=None, description="The triage verdict, once there is one.")
    decision: DecisionSummary | None = None
    outcome: OutcomeSummary | None = None

    @property
    def severity(self) -> Severity:
        return self.verdict.severity if self.verdict is not None else self.finding.severity


def build(
    incident: dict[str, Any],
    change: Change,
    at: str,
    *,
    decision: ApprovalResult | None = None,
    outcome: Outcome | None = None,
) -> Envelope:
    """The envelope of ``change`` from the incident as stored (its alert and verdict)."""
    alert = Alert.model_validate(incident["alert"])
    return Envelope(
        id=f"{incident['incident_id']}:{change}",
        change=change,
        time=at,
        incident_id=str(incident["incident_id"]),
        status=str(incident.get("status") or "open"),
        finding=FindingSummary(
            source=alert.source,
            product=alert.product,
            finding_id=alert.finding_id,
            type=alert.type,
            title=alert.title,
            severity=alert.severity,
            account=alert.account,
            region=alert.region,
            resources=tuple(ResourceRef(type=r.type, id=r.id) for r in alert.resources),
            first_seen=alert.first_seen,
            last_seen=alert.time,
            drill=alert.drill,
        ),
        verdict=stored_verdict(incident),
        decision=DecisionSummary(decision=decision.decision, by=decision.by, at=decision.at)
        if decision is not None
        else None,
        outcome=OutcomeSummary(
            status=outcome.status,
            actions=tuple(
                ActionSummary(name=a.name, mode=a.mode, status=a.status, verified=a.verified)
                for a in outcome.actions
            ),
        )
        if outcome is not None
        else None,
    )


def stored_verdict(incident: dict[str, Any]) -> Verdict | None:
    """The incident's verdict as Triage stored it, if it has a readable one."""
    try:
        return Verdict.model_validate(incident["verdict"]) if incident.get("verdict") else None
    except ValidationError:
        return None
