"""Intake entry points.

``normalize`` is the NormalizeAlert state: one raw event in, the normalized alert (or why it is ignored, or
the problem it resolves) out. ``dispatch`` receives deliveries that reach a function directly and may carry
several alerts (SNS subscriptions, CloudWatch Lambda alarm actions, Security Hub events) and starts the
workflow once per alert.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.errors import InvalidAlert
from tourniquet.intake import executions
from tourniquet.intake.normalize import as_state, parts
from tourniquet.intake.normalize import normalize as normalize_event
from tourniquet.intake.settings import IntakeSettings
from tourniquet.logs import logger
from tourniquet.state import Ignored, Resolved


@logger.inject_lambda_context(clear_state=True)
def normalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = normalize_event(event.get("event"))
    if isinstance(result, Ignored):
        logger.info("Event ignored", extra={"source": result.source, "reason": result.reason})
    elif isinstance(result, Resolved):
        logger.info("Resolution normalized", extra={"source": result.source, "dedup_key": result.dedup_key})
    else:
        logger.info(
            "Alert normalized",
            extra={
                "source": result.source,
                "type": result.type,
                "severity": result.severity,
                "dedup_key": result.dedup_key,
            },
        )
    return as_state(result)


@logger.inject_lambda_context(clear_state=True)
def dispatch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state_machine_arn = IntakeSettings().state_machine_arn
    if not state_machine_arn:
        raise ValueError("STATE_MACHINE_ARN: the workflow to start is not configured")
    try:
        items = [(part.path, part.event) for part in parts(event)]
    except InvalidAlert as exc:
        # Started whole, the workflow records the unusable delivery as a failure and notifies it.
        logger.warning("Unusable delivery passed on whole", extra={"field": exc.field})
        items = [("", event)]
    started = executions.start_all(state_machine_arn, "dispatch", "", items)
    logger.info(
        "Executions started",
        extra={"alerts": len(started), "already_running": sum(s.already_running for s in started)},
    )
    return {"started": len(started), "executions": [s.execution_arn for s in started]}
