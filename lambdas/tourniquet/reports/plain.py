"""The weekly report in plain text, for every channel that carries reports (Slack, Teams, e-mail): each
escapes it for its own markup."""

from __future__ import annotations

from tourniquet.reports.markdown import spread
from tourniquet.reports.summary import Report


def title(report: Report) -> str:
    """``Weekly report: 2 incidents, 2026-11-30 to 2026-12-07``."""
    return f"Weekly report: {report.incidents} incidents, {report.since[:10]} to {report.until[:10]}"


def text(report: Report) -> str:
    """The figures, one line each. Approvers are named by their ids, never mentioned: a weekly summary
    should not ping every approver."""
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in report.by_outcome.items()) or "none"
    lines = [
        f"{report.incidents} incidents: {outcomes}; {report.duplicates_folded} duplicate alerts folded",
        f"Time to contain: {spread(report.time_to_contain)}",
        f"Time to decide: {spread(report.time_to_decide)}",
    ]
    if report.approvals_by_approver:
        people = ", ".join(
            f"{person} {sum(counts.values())}" for person, counts in report.approvals_by_approver.items()
        )
        lines.append(f"Decisions: {people}")
    if report.top_resources:
        top = ", ".join(f"{row['resource']} ({row['incidents']})" for row in report.top_resources[:3])
        lines.append(f"Most affected: {top}")
    lines.append("Details: tourniquet report --since 7d --format html")
    return "\n".join(lines)
