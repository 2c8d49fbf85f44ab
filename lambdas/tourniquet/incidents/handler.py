"""Deduplicate and Record* states."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from tourniquet.incidents import dedup, outcome
from tourniquet.incidents.keys import fold_keys
from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.playbooks.catalog import catalog, select
from tourniquet.settings import get_settings
from tourniquet.state import ApprovalResult, Ignored, IncidentRef, Plan, Resolved, StepError

Model = TypeVar("Model", bound=BaseModel)


@logger.inject_lambda_context(clear_state=True)
def deduplicate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    alert = Alert.model_validate(event["alert"])
    settings = get_settings()
    # The playbook the plan will follow (the same file) names the keys.
    playbook = select(alert, catalog(settings.playbooks_file))
    incident = dedup.fold(
        alert,
        window_seconds=settings.dedup_window_seconds,
        execution_id=str(event["execution_id"]),
        keys=fold_keys(alert, playbook),
    )
    logger.append_keys(incident_id=incident.id)
    logger.info(
        "Alert folded",
        extra={
            "duplicate": incident.duplicate,
            "duplicate_count": incident.duplicate_count,
            "folded": incident.folded,
        },
    )
    return incident.model_dump()


@logger.inject_lambda_context(clear_state=True)
def record(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    kind = event.get("kind")
    execution_id = str(event.get("execution_id", ""))
    if kind == "outcome":
        incident = IncidentRef.model_validate(event["incident"])
        logger.append_keys(incident_id=incident.id)
        outcome_ = outcome.record_outcome(
            incident.id,
            Plan.model_validate(event["plan"]),
            ApprovalResult.model_validate(event["approval"]),
            execution_id,
        )
        logger.info("Recorded", extra={"kind": kind, "status": outcome_.status})
        return outcome_.as_state()
    if kind == "decision":
        incident = IncidentRef.model_validate(event["incident"])
        logger.append_keys(incident_id=incident.id)
        outcome.record_decision(incident.id, ApprovalResult.model_validate(event["approval"]))
        logger.info("Recorded", extra={"kind": kind})
        return {"incident_id": incident.id}
    if kind == "failure":
        # Read leniently: recording a failure must never fail on the state it failed with.
        state = event.get("state")
        state = state if isinstance(state, dict) else {}
        recorded = outcome.record_failure(
            _lenient(StepError, state.get("error")) or StepError(),
            _lenient(IncidentRef, state.get("incident")),
            execution_id,
        )
    elif kind == "resolved":
        recorded = outcome.record_resolved(Resolved.model_validate(event["resolution"]), execution_id)
    elif kind == "ignored":
        recorded = outcome.record_ignored(Ignored.model_validate(event["intake"]), execution_id)
    else:
        raise ValueError(f"kind: unknown record kind {kind!r}")
    logger.info("Recorded", extra={"kind": kind, "status": recorded.status})
    return recorded.as_state()


def _lenient(model: type[Model], value: Any) -> Model | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None
