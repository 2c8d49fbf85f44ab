"""RequestApproval and RemindApprovers: the workflow's waitForTaskToken tasks (the Slack interaction endpoint
is ``callback``); and a storm's folded resource's approval: RegisterFoldedApproval, AwaitFoldedDecision and
ExpireFoldedApproval, and AbandonFoldedApproval when its workflow fails first (``folded``: register, wait,
expire, abandon)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.approval import members, requests
from tourniquet.approval.model import ApprovalRequest, CardContext
from tourniquet.logs import logger
from tourniquet.state import FoldedApproval, IncidentRef


@logger.inject_lambda_context(clear_state=True)
def request_approval(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("reminder") is True:
        logger.append_keys(incident_id=event["incident_id"])
        return requests.remind(str(event["incident_id"]), str(event["task_token"]))
    folded = event.get("folded")
    if folded == "register":
        ctx = CardContext.model_validate(event)
        logger.append_keys(incident_id=ctx.incident.id)
        return FoldedApproval(approval_id=members.register(ctx).approval_id).as_state()
    if folded == "abandon":
        incident = IncidentRef.model_validate(event["incident"])
        logger.append_keys(incident_id=incident.id)
        members.abandon(incident, str(event["execution_id"]))
        return {}
    if folded in ("wait", "expire"):
        logger.append_keys(incident_id=event["incident_id"], approval_id=event["approval_id"])
        if folded == "wait":
            # The workflow takes the decision's answer (SendTaskSuccess), never this result.
            members.wait(str(event["approval_id"]), str(event["task_token"]))
            return {}
        return members.expire(str(event["approval_id"])).as_state()
    request = ApprovalRequest.model_validate(event)
    logger.append_keys(incident_id=request.incident.id)
    return requests.request_approval(request).as_dict()
