"""NormalizeAlert: raw event in, normalized alert (or the reason it is ignored) out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.intake.common import Ignored
from tourniquet.intake.normalize import normalize as normalize_event
from tourniquet.logs import logger


@logger.inject_lambda_context(clear_state=True)
def normalize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = normalize_event(event.get("event"))
    if isinstance(result, Ignored):
        logger.info("Event ignored", extra={"source": result.source, "reason": result.reason})
        return {"outcome": "ignored", "source": result.source, "reason": result.reason}
    logger.info(
        "Alert normalized",
        extra={"source": result.source, "type": result.type, "severity": result.severity, "dedup_key": result.dedup_key},
    )
    return {"outcome": "alert", "alert": result.model_dump(mode="json")}
