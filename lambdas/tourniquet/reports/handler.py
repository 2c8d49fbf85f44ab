"""WeeklyReport: the last seven days' incidents, sent to every configured channel that carries reports (Slack,
Teams, e-mail); EventBridge Scheduler starts it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet import store
from tourniquet.channels import deliver_report
from tourniquet.channels.slack import SlackChannel
from tourniquet.logs import logger
from tourniquet.reports import plain, summary

PERIOD = timedelta(days=7)


@logger.inject_lambda_context(clear_state=True)
def weekly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Slack first: it raises ChannelFailed when the message cannot be posted (within the step's bound),
    before any other channel was sent anything, so the schedule's retry sends the report once everywhere.
    The other channels never raise: a retry for them would post to Slack again. Their failures are logged
    ("report not delivered") and returned."""
    now = store.now()
    since, until = store.iso(now - PERIOD), store.iso(now)
    report = summary.summarize(list(summary.read(since)), since, until)
    sent = deliver_report(plain.title(report), plain.text(report), first=SlackChannel.name)
    logger.info("weekly report sent", extra={"incidents": report.incidents, "channels": sent})
    channels = {name: result for name, result in sent.items() if name != SlackChannel.name}
    return {"incidents": report.incidents, "posted": SlackChannel.name in sent, "channels": channels}
