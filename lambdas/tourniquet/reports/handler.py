"""WeeklyReport: the last seven days' incidents, posted to Slack and sent to the configured channels that
carry reports (Teams, e-mail); EventBridge Scheduler starts it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet import store
from tourniquet.channels import deliver_report
from tourniquet.logs import logger
from tourniquet.reports import markdown, plain, summary
from tourniquet.settings import get_settings
from tourniquet.slack import Slack

PERIOD = timedelta(days=7)


@logger.inject_lambda_context(clear_state=True)
def weekly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Slack first: it raises SlackUnavailable when the message cannot be posted, before any other channel
    was sent anything, so the schedule's retry sends the report once everywhere. The other channels never
    raise: a retry for them would post to Slack again. Their failures are logged ("report not delivered")
    and returned."""
    now = store.now()
    since, until = store.iso(now - PERIOD), store.iso(now)
    report = summary.summarize(list(summary.read(since)), since, until)
    message = Slack.connect().post(get_settings().slack_channel, markdown.slack_text(report))
    logger.info("weekly report posted", extra={"incidents": report.incidents, "channel": message.channel})
    channels = deliver_report(plain.title(report), plain.text(report))
    return {"incidents": report.incidents, "posted": True, "channels": channels}
