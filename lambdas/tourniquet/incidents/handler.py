"""Deduplicate and Record* states."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.incidents import dedup, outcome
from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
def deduplicate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    alert = Alert.model_validate(event["alert"])
    incident = dedup.fold(
        alert, window_seconds=get_settings().dedup_window_seconds, execution_id=str(event["execution_id"])
    )
    logger.append_keys(incident_id=incident.id)
    logger.info(
        "Alert folded", extra={"duplicate": incident.duplicate, "duplicate_count": incident.duplicate_count}
    )
    return incident.model_dump()


@logger.inject_lambda_context(clear_state=True)
def record(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    kind = event.get("kind")
    execution_id = str(event.get("execution_id", ""))
    if kind == "outcome":
        incident_id = event["incident"]["id"]
        logger.append_keys(incident_id=incident_id)
        result = outcome.record_outcome(
            incident_id, event["plan"], event["approval"]["decision"], execution_id
        )
    elif kind == "failure":
        result = outcome.record_failure(event.get("state") or {}, execution_id)
    elif kind == "resolved":
        result = outcome.record_resolved(event.get("resolution") or {}, execution_id)
    elif kind == "ignored":
        result = outcome.record_ignored(event.get("intake") or {}, execution_id)
    else:
        raise ValueError(f"kind: unknown record kind {kind!r}")
    logger.info("Recorded", extra={"kind": kind, "status": result["status"]})
    return result
