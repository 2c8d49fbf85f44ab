"""PlanResponse state."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(incident_id=event["incident"]["id"])
    result = make_plan(Alert.model_validate(event["alert"]), event.get("diagnostics") or [], get_settings())
    logger.info(
        "Planned",
        extra={
            "playbook": result["playbook"],
            "automatic": result["automatic"],
            "approval": result["approval"],
        },
    )
    return result
