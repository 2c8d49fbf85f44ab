"""NotifyDuplicate, NotifyOutcome, NotifyReleased, NotifyResolved and NotifyFailure."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.approval import members
from tourniquet.logs import logger
from tourniquet.notify import notices
from tourniquet.notify.model import NOTICE, FailureNotice, FoldedNotice, ResolvedNotice


@logger.inject_lambda_context(clear_state=True)
def notify(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notice = NOTICE.validate_python(event)
    incident_id = (
        notice.incident_id if isinstance(notice, FailureNotice | ResolvedNotice) else notice.incident.id
    )
    logger.append_keys(incident_id=incident_id, kind=notice.kind)
    posted = notices.notify(notice)
    logger.info("notified", extra={"posted": posted})
    if isinstance(notice, FoldedNotice) and notice.approval_id:
        # The workflow asks again after the next settle while no posted summary offered its resource.
        return members.offer_state(notice.approval_id, posted).as_state()
    return {"posted": posted}
