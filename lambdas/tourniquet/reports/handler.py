"""WeeklyReport: the last seven days' incidents, posted to the channel (EventBridge Scheduler starts it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet import store
from tourniquet.logs import logger
from tourniquet.reports import markdown, summary
from tourniquet.settings import get_settings
from tourniquet.slack import Slack

PERIOD = timedelta(days=7)


@logger.inject_lambda_context(clear_state=True)
def weekly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Raises SlackUnavailable when the message cannot be posted: the schedule retries, the alarm tells."""
    now = store.now()
    since, until = store.iso(now - PERIOD), store.iso(now)
    report = summary.summarize(list(summary.read(since)), since, until)
    message = Slack.connect().post(get_settings().slack_channel, markdown.slack_text(report))
    logger.info("weekly report posted", extra={"incidents": report.incidents, "channel": message.channel})
    return {"incidents": report.incidents, "posted": True}
