"""The escalation topic (SNS): the page that still reaches people when Slack does not."""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws
from tourniquet.errors import EscalationFailed, Throttled
from tourniquet.logs import logger
from tourniquet.settings import get_settings

# SNS subjects: at most 100 printable ASCII characters, no line breaks.
_SUBJECT_LIMIT = 100
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def publish(subject: str, message: dict[str, Any]) -> str:
    """Publish a JSON summary; returns the SNS message id. Never put tokens or secrets in ``message``."""
    topic_arn = get_settings().escalation_topic_arn
    if not topic_arn:
        raise EscalationFailed("no escalation topic is configured (ESCALATION_TOPIC_ARN)")
    safe_subject = _UNPRINTABLE.sub("?", subject)[:_SUBJECT_LIMIT]
    try:
        response = aws.client("sns").publish(
            TopicArn=topic_arn, Subject=safe_subject, Message=json.dumps(message, default=str, sort_keys=True)
        )
    except ClientError as exc:
        if aws.is_throttling(exc):
            raise Throttled("SNS publish was throttled") from exc
        raise EscalationFailed(f"SNS publish failed: {aws.error_code(exc) or 'error'}") from exc
    message_id = str(response["MessageId"])
    logger.info("escalation published", extra={"event": message.get("event"), "message_id": message_id})
    return message_id
