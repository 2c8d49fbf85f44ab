"""The values the workflows carry from step to step, one typed model each.

Every step reads the values it needs from its input through these models and returns one of them, so a
value has one shape wherever it is read: in the handlers, in the notices, on the card and in the CLI. The
JSON field names are the ones the state machines' JSONPaths name:

=====================  ======================================  ===============================================
state path             model                                   written by
=====================  ======================================  ===============================================
``$.alert``            :class:`tourniquet.intake.model.Alert`  NormalizeAlert (with ``$.outcome``)
(the intake result)    :class:`Ignored`, :class:`Resolved`     NormalizeAlert, when the event opens nothing
``$.incident``         :class:`IncidentRef`                    Deduplicate
``$.diagnostics``      a list of :class:`Diagnostic`           Diagnose (one branch each)
``$.plan``             :class:`Plan` (its ``target``:          PlanResponse
                       :class:`Target`)
``$.verdict``          :class:`Verdict`                        Triage (read by people and the SIEM only:
                                                               no Choice and no action reads it)
``$.contained``        a list of :class:`ActionResult`         ContainAutomatically (``$.approved``: the
                                                               approved ones)
``$.approval``         :class:`ApprovalResult`                 the approval decision, or the Pass states
                                                               (a folded resource's too, and its expiry)
``$.folded_approval``  :class:`FoldedApproval`                 RegisterFoldedApproval
``$.notified``         :class:`FoldedOffer`                    OfferFoldedApproval
``$.outcome``          :class:`Outcome`                        RecordOutcome
``$.release``          :class:`ReleaseResult`                  ReleaseContainment
``$.error``            :class:`StepError`                      any Catch
=====================  ======================================  ===============================================

The normalized alert keeps its own module (it is also the intake's public schema, docs/alert-schema.json).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tourniquet.intake.model import Severity


class StateModel(BaseModel):
    # Validation messages never echo input: the state holds task tokens and untrusted alert text.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    def as_state(self) -> dict[str, Any]:
        """The value as the workflow carries it: JSON-ready, without the fields that have no value."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- intake ----------------------------------------------------------------------------------------------


class Ignored(StateModel):
    """An event that was understood but is not an alert, and why."""

    source: str
    reason: str


class Resolved(StateModel):
    """The source says a problem is over: an alarm back to OK, a resolved webhook alert, a passed control.

    ``dedup_key`` is the key the alert that opened the problem carried, so it names the incident to resolve.
    """

    source: str
    dedup_key: str
    finding_id: str = ""
    title: str = ""
    reason: str = ""
    time: str = ""


# --- incident --------------------------------------------------------------------------------------------


class IncidentRef(StateModel):
    """The incident an alert opened or folded into."""

    id: str = Field(min_length=1, max_length=128)
    duplicate: bool = False
    duplicate_count: int = Field(default=0, ge=0)
    dedup_key: str | None = None
    # The alert folded into its storm's incident (docs/dedup-and-correlation.md): the thread hears of it in
    # a summary once the storm settles, not on its own.
    folded: bool = False
    # A folded alert about a new resource that its playbook contains: containment still runs on it.
    contain: bool = False
    correlation_key: str | None = None


# --- where an incident happened ----------------------------------------------------------------------------

ACCOUNT_ID_PATTERN = r"^\d{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"


class Scope(StateModel):
    """The account and region of an incident's target: every AWS call about it goes there, and only there."""

    account: str = Field(pattern=ACCOUNT_ID_PATTERN)
    region: str = Field(pattern=REGION_PATTERN)

    def __str__(self) -> str:
        return f"account {self.account} in {self.region}"


# --- diagnostics -----------------------------------------------------------------------------------------

# "unavailable": the check could not answer (it failed, timed out, or the account cannot answer it at all).
DiagnosticStatus = Literal["ok", "not_found", "not_applicable", "unavailable"]


class Diagnostic(StateModel):
    """What one read-only check found; every summary has a short ``headline`` for the card."""

    check: str
    status: DiagnosticStatus
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # When the check ran: the checks run in parallel, and the incident's timeline shows them side by side.
    started_at: str | None = None
    finished_at: str | None = None


# --- plan ------------------------------------------------------------------------------------------------


class Target(StateModel):
    """The one resource a plan's actions may change; everything they touch is derived from it.

    An access key target names its principal: ``user_name`` for an IAM user's key, ``role_name`` for
    temporary credentials of an assumed role, and the finding's ``principal_type`` (``IAMUser``,
    ``AssumedRole``, ``Root``, …). A plan without a resource has a target of ``None`` fields.
    """

    type: str | None = None
    id: str | None = None
    account: str | None = None
    region: str | None = None
    user_name: str | None = None
    role_name: str | None = None
    principal_type: str | None = None

    @property
    def scope(self) -> Scope | None:
        """Where the target is; None when the alert did not say (or said something that is no account)."""
        return scope_of(self.account, self.region)


class ApprovalWaits(StateModel):
    """The approval wait in two parts, split at the reminder; together they are the whole timeout."""

    before_reminder: int = Field(ge=1)
    after_reminder: int = Field(ge=1)


class Plan(StateModel):
    """The playbook's actions for this incident, adjusted by the diagnostics and the guardrails."""

    playbook: str
    title: str | None = None
    runbook: str | None = None
    next_steps: tuple[str, ...] = ()
    # Who may decide this plan's approval: Slack user ids and user group ids (``S…``). Empty means the
    # deployment's APPROVERS and APPROVER_GROUPS.
    approvers: tuple[str, ...] = ()
    target: Target = Target()
    automatic: tuple[str, ...] = ()
    approval: tuple[str, ...] = ()
    approval_required: bool = False
    approval_timeout_seconds: int = Field(default=3600, ge=1)
    approval_waits: ApprovalWaits | None = None
    dry_run: bool = False
    notes: tuple[str, ...] = ()


# --- triage --------------------------------------------------------------------------------------------


class RiskPoint(StateModel):
    """Points of the risk score and the one reason they were given for."""

    points: int = Field(ge=-100, le=100)
    reason: str = Field(min_length=1, max_length=300)


class AttackRef(StateModel):
    """A MITRE ATT&CK tactic (``TA0011``) or technique (``T1071.004``), by id and name."""

    uid: str = Field(pattern=r"^(TA\d{4}|T\d{4}(\.\d{3})?)$")
    name: str = Field(max_length=120)


class Indicator(StateModel):
    """An indicator of compromise: an address, a domain, a key, a principal, a hash."""

    type: Literal["ip", "domain", "url", "hash", "user", "access_key", "principal", "process"]
    value: str = Field(min_length=1, max_length=512)


class Evidence(StateModel):
    """One collected fact a verdict rests on; the model may cite it by ``id`` and nothing else."""

    id: str = Field(pattern=r"^E\d{1,3}$")
    source: str = Field(max_length=64)
    text: str = Field(max_length=600)


class ModelUse(StateModel):
    """What the optional model did to a verdict: raised it (and how), or fell back (and why)."""

    model_id: str
    status: Literal["raised", "unchanged", "fallback"]
    reason: str = Field(max_length=300)
    raised: tuple[str, ...] = ()
    # The evidence ids its summary rests on: only ids of the collected evidence are kept.
    cited: tuple[str, ...] = ()
    dropped_evidence: int = Field(default=0, ge=0)


class Verdict(StateModel):
    """The triage of an incident, for people and the SIEM. It names no action, approver or decision: the
    plan is made before it and nothing that acts reads it."""

    summary: str = Field(max_length=1200)
    severity: Severity
    risk_score: int = Field(ge=0, le=100)
    reasons: tuple[RiskPoint, ...] = ()
    tactics: tuple[AttackRef, ...] = ()
    techniques: tuple[AttackRef, ...] = ()
    iocs: tuple[Indicator, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    next_steps: tuple[str, ...] = ()
    analyst_action_required: bool
    # Why a person must look (empty when nobody must).
    attention: tuple[str, ...] = ()
    model: ModelUse | None = None


def _verdict_or_none(value: Any) -> Any:
    """A verdict the workflow could not make (TriageUnavailable's marker) reads as none."""
    if value is None or isinstance(value, Verdict):
        return value
    try:
        return Verdict.model_validate(value)
    except ValidationError:
        return None


# A state value that holds a verdict, or none when triage was unavailable.
OptionalVerdict = Annotated[Verdict | None, BeforeValidator(_verdict_or_none)]


# --- containment -----------------------------------------------------------------------------------------

ActionStatus = Literal["done", "unchanged", "planned", "skipped_protected", "refused"]


class ActionResult(StateModel):
    """One containment action's result: what it did to its target, and whether a fresh read proved it."""

    action: str
    target: Target = Target()
    status: ActionStatus
    verified: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


# --- approval and outcome --------------------------------------------------------------------------------

DecisionValue = Literal["approve", "deny", "expired", "not_required"]


class ApprovalResult(StateModel):
    """How the wait for a person ended (``not_required`` when nothing waited)."""

    decision: DecisionValue
    by: str | None = None
    at: str | None = None
    approval_id: str | None = None
    approvers: tuple[str, ...] = ()
    reason: str | None = None


class FoldedApproval(StateModel):
    """A storm's folded resource's own approval, registered before its alert asks for a summary."""

    approval_id: str


class FoldedOffer(StateModel):
    """Whether a folded resource's alert asks for a summary again, and how long its wait for a decision
    may last: until its approval's deadline."""

    posted: bool
    awaiting_summary: bool
    wait_seconds: int = Field(ge=1)


OutcomeStatus = Literal["contained", "planned", "alerted", "denied", "expired", "failed"]


class OutcomeAction(StateModel):
    """One planned action, as the timeline last recorded it."""

    name: str
    mode: Literal["auto", "approval"]
    status: str
    target: str | None = None
    verified: bool = False


class Outcome(StateModel):
    """How the incident closed."""

    status: OutcomeStatus
    approval: ApprovalResult
    actions: tuple[OutcomeAction, ...] = ()


class Recorded(StateModel):
    """What a Record step wrote: how the run ended, and on which incident if it had one."""

    status: Literal["ignored", "resolved", "failed"]
    incident_id: str | None = None
    reason: str | None = None
    error: str | None = None


# --- release ---------------------------------------------------------------------------------------------

RestorationStatus = Literal["done", "unchanged", "kept", "planned", "failed"]


class Restoration(StateModel):
    """One undo record put back (or kept, with the reason)."""

    action: str
    target: str
    status: RestorationStatus
    verified: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class ReleaseInput(StateModel):
    """What starts the release workflow: an approved Release click, or ``tourniquet release`` (no approval:
    IAM decided who may start it). ``actor`` is recorded as who released."""

    incident: IncidentRef
    actor: str = Field(min_length=1, max_length=512)
    approval_id: str | None = None
    approvers: tuple[str, ...] = ()
    dry_run: bool = False

    def as_state(self) -> dict[str, Any]:
        # Every field, null ones too: the workflow's JSONPaths read each of them.
        return self.model_dump(mode="json")


class ReleaseResult(StateModel):
    incident_id: str
    status: Literal["released", "planned"]
    restorations: tuple[Restoration, ...] = ()


def scope_of(account: str | None, region: str | None) -> Scope | None:
    """The scope an alert or a target names, if it names a valid account and region."""
    try:
        return Scope(account=account or "", region=region or "")
    except ValueError:
        return None


# --- failure ---------------------------------------------------------------------------------------------


class StepError(StateModel):
    """A Catch's ``$.error``: the Step Functions error name and its cause."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True, populate_by_name=True)

    error: str = Field(default="Unknown", alias="Error")
    cause: str = Field(default="", alias="Cause")

    @property
    def message(self) -> str:
        """The cause in plain words: a function's own message, never its stack trace.

        A Lambda function's error arrives as JSON (``errorMessage``, ``errorType``, ``stackTrace``); a
        service's error (a timeout, a Step Functions runtime error) as text.
        """
        try:
            parsed = json.loads(self.cause)
        except ValueError:
            return self.cause
        if isinstance(parsed, dict):
            return str(parsed.get("errorMessage") or parsed.get("Cause") or self.error)
        return self.cause


__all__ = [
    "ActionResult",
    "ApprovalResult",
    "ApprovalWaits",
    "AttackRef",
    "Diagnostic",
    "Evidence",
    "FoldedApproval",
    "FoldedOffer",
    "Ignored",
    "IncidentRef",
    "Indicator",
    "ModelUse",
    "OptionalVerdict",
    "Outcome",
    "OutcomeAction",
    "Plan",
    "Recorded",
    "ReleaseInput",
    "ReleaseResult",
    "Resolved",
    "Restoration",
    "RiskPoint",
    "Scope",
    "StepError",
    "Target",
    "Verdict",
]
