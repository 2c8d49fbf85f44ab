"""PlanResponse state."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import get_settings
from tourniquet.state import Diagnostic


@logger.inject_lambda_context(clear_state=True)
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(incident_id=event["incident"]["id"])
    diagnostics = [Diagnostic.model_validate(d) for d in event.get("diagnostics") or []]
    plan = make_plan(Alert.model_validate(event["alert"]), diagnostics, get_settings())
    logger.info(
        "Planned",
        extra={"playbook": plan.playbook, "automatic": plan.automatic, "approval": plan.approval},
    )
    return plan.as_state()
