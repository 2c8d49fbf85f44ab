"""WeeklyReport: the last seven days' incidents, sent to every configured channel that carries reports (Slack,
Teams, e-mail); EventBridge Scheduler starts it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict

from tourniquet import store
from tourniquet.channels import STEP, ChannelFailed, deliver_report
from tourniquet.logs import logger
from tourniquet.reports import plain, sent, summary

PERIOD = timedelta(days=7)
# How hard each channel is tried within one run.
BOUND = STEP


class ReportRun(BaseModel):
    """The schedule's input: when the run was scheduled (the same on each retry of it). A run started by
    hand has none: its period ends when it runs."""

    model_config = ConfigDict(frozen=True)

    scheduled_time: AwareDatetime | None = None


@logger.inject_lambda_context(clear_state=True)
def weekly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The report of the seven days before the scheduled time goes to the channels side by side, except those
    that already took it (a retry of the run: ``sent``). It fails, naming each channel that did not take it,
    so that the schedule retries it for those."""
    run = ReportRun.model_validate(event)
    until = run.scheduled_time.astimezone(UTC) if run.scheduled_time else store.now()
    period_end, since = store.iso(until), store.iso(until - PERIOD)
    report = summary.summarize(list(summary.read(since, period_end)), since, period_end)
    before = sent.channels(period_end)
    results = deliver_report(plain.title(report), plain.text(report), BOUND, skip=before)
    for name, result in results.items():
        if result == "sent":
            sent.mark(period_end, name)
    channels = {**dict.fromkeys(sorted(before), "sent before"), **results}
    logger.info("weekly report run", extra={"incidents": report.incidents, "channels": channels})
    missing = {name: result for name, result in results.items() if result != "sent"}
    if missing:
        raise ChannelFailed(_not_delivered(missing, [name for name in channels if name not in missing]))
    return {"incidents": report.incidents, "channels": channels}


def _not_delivered(missing: dict[str, str], delivered: list[str]) -> str:
    failures = "; ".join(f"{name} ({reason})" for name, reason in missing.items())
    have = f"; {_names(delivered)} {'has' if len(delivered) == 1 else 'have'} it" if delivered else ""
    retry = f"A retry of the run sends it to {_names(missing)} only."
    return f"The weekly report did not reach {failures}{have}. {retry}"


def _names(names: Iterable[str]) -> str:
    *rest, last = names
    return f"{', '.join(rest)} and {last}" if rest else last
