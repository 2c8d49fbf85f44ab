"""The Notify* task inputs, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tourniquet.approval.model import CardContext
from tourniquet.intake.model import Alert
from tourniquet.state import (
    Diagnostic,
    IncidentRef,
    OptionalVerdict,
    Outcome,
    Plan,
    Recorded,
    ReleaseResult,
    StepError,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class DuplicateNotice(_Model):
    kind: Literal["duplicate"]
    incident: IncidentRef


class FoldedNotice(_Model):
    """An alert folded into its storm's incident, once the storm settled: the thread may hear a summary."""

    kind: Literal["folded"]
    incident: IncidentRef
    execution_id: str = ""
    # The alert's own resource waits for a person under this approval (OfferFoldedApproval).
    approval_id: str | None = None
    # Its resource's approved steps ran (NotifyFoldedOutcome): the thread must hear how they ended.
    ran: bool = False


class OutcomeNotice(_Model):
    kind: Literal["outcome"]
    incident: IncidentRef
    outcome: Outcome
    # What a card needs when none was posted (nothing waited for approval), to offer the Release button.
    alert: Alert | None = None
    plan: Plan | None = None
    verdict: OptionalVerdict = None
    diagnostics: tuple[Diagnostic, ...] = ()
    execution_id: str = ""

    def context(self) -> CardContext | None:
        if self.alert is None or self.plan is None:
            return None
        return CardContext(
            execution_id=self.execution_id,
            incident=self.incident,
            alert=self.alert,
            plan=self.plan,
            diagnostics=self.diagnostics,
            verdict=self.verdict,
        )


class ReleasedNotice(_Model):
    kind: Literal["released"]
    incident: IncidentRef
    # The Release click's approval; None when `tourniquet release` started the workflow.
    approval_id: str | None = None
    # Who released: the approver of the click, or the caller of the CLI.
    actor: str | None = None
    release: ReleaseResult


class ResolvedNotice(_Model):
    """The source says the problem is over (RecordResolved's record)."""

    kind: Literal["resolved"]
    record: Recorded
    execution_id: str = ""

    @property
    def incident_id(self) -> str | None:
        return self.record.incident_id


class FailureNotice(_Model):
    """The whole state at the failure. It is read leniently: a failure report must never fail on its input."""

    kind: Literal["failure"]
    state: dict[str, Any] = Field(default_factory=dict)
    execution_id: str = ""
    # Set by the release workflow: its failure closes no incident (`tourniquet release` names no approval).
    release: bool = False

    @property
    def incident_id(self) -> str | None:
        incident = self.state.get("incident")
        value = incident.get("id") if isinstance(incident, dict) else None
        return value if isinstance(value, str) and value else None

    @property
    def of_incident(self) -> bool:
        """Whether the run that failed was the incident's own, not a release's, a copy's or a storm's later
        alert's."""
        incident = self.state.get("incident")
        folded = isinstance(incident, dict) and (incident.get("duplicate") or incident.get("folded"))
        return not (self.release or folded)

    @property
    def error(self) -> StepError:
        """The Step Functions error (``$.error``), if the state has a readable one."""
        try:
            return StepError.model_validate(self.state.get("error"))
        except ValidationError:
            return StepError()

    @property
    def approval_id(self) -> str | None:
        """The release approval a failed release workflow ran for (its input names it)."""
        value = self.state.get("approval_id")
        return value if isinstance(value, str) and value else None

    @property
    def record_error(self) -> str | None:
        """The error of RecordFailure itself, when even recording the failure failed."""
        error = self.state.get("record_error")
        return str(error.get("Error") or "Unknown") if isinstance(error, dict) else None


Notice = DuplicateNotice | FoldedNotice | OutcomeNotice | ReleasedNotice | ResolvedNotice | FailureNotice
NOTICE: TypeAdapter[Notice] = TypeAdapter(
    Annotated[Notice, Field(discriminator="kind")], config=ConfigDict(hide_input_in_errors=True)
)
