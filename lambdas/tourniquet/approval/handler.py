"""RequestApproval: the workflow's waitForTaskToken task (the Slack interaction endpoint is ``callback``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.approval import requests
from tourniquet.approval.model import ApprovalRequest
from tourniquet.logs import logger


@logger.inject_lambda_context(clear_state=True)
def request_approval(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("reminder") is True:
        logger.append_keys(incident_id=event["incident_id"])
        return requests.remind(str(event["incident_id"]), str(event["task_token"]))
    request = ApprovalRequest.model_validate(event)
    logger.append_keys(incident_id=request.incident.id)
    return requests.request_approval(request).as_dict()
