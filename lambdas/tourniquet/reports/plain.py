"""The weekly report in plain text, for the channels that carry reports (Teams, e-mail): each escapes it for
its own markup. Slack gets the same figures in its mrkdwn (``markdown.slack_text``)."""

from __future__ import annotations

from tourniquet.reports.markdown import weekly_lines
from tourniquet.reports.summary import Report


def title(report: Report) -> str:
    """``Weekly report: 2 incidents, 2026-11-30 to 2026-12-07``."""
    return f"Weekly report: {report.incidents} incidents, {report.since[:10]} to {report.until[:10]}"


def text(report: Report) -> str:
    return "\n".join(weekly_lines(report, code=_as_is, strong=_as_is))


def _as_is(text: str) -> str:
    return text
