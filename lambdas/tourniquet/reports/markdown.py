"""A report as Markdown (``tourniquet report``)."""

from __future__ import annotations

from tourniquet.reports.summary import Report, Spread
from tourniquet.slack.mrkdwn import escape


def duration(seconds: float | None) -> str:
    """``1.6 s``, ``4 min 3 s``, ``2 h 5 min``; an em dash for nothing."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def spread(value: Spread) -> str:
    if not value.count:
        return "none"
    return f"median {duration(value.median)}, p90 {duration(value.p90)} ({value.count} incidents)"


def _cell(value: object) -> str:
    """Table text: alert fields are untrusted. A bar or a line break would break the table, and markup
    (``<script>``, ``<img onerror>``) would run where the Markdown is shown as HTML."""
    text = escape(str(value)).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def render(report: Report) -> str:
    outcomes = sorted(report.by_outcome)
    lines = [
        "# Tourniquet incident report",
        "",
        f"{report.since} to {report.until}: **{report.incidents} incidents**, "
        f"{report.duplicates_folded} duplicate alerts folded into them.",
        "",
        f"- Time to contain (first verified automatic action): {spread(report.time_to_contain)}",
        f"- Time to decide (approve or deny): {spread(report.time_to_decide)}",
        "",
        "## Incidents by type and outcome",
        "",
        "| type | " + " | ".join(_cell(outcome) for outcome in outcomes) + " | total |",
        "|---|" + "---:|" * (len(outcomes) + 1),
    ]
    for kind, counts in report.by_type.items():
        cells = [str(counts.get(outcome, 0)) for outcome in outcomes]
        lines.append(f"| {_cell(kind)} | " + " | ".join(cells) + f" | {sum(counts.values())} |")
    lines += ["", "## Approvals by approver", ""]
    if report.approvals_by_approver:
        lines += ["| approver | approved | denied |", "|---|---:|---:|"]
        for person, counts in report.approvals_by_approver.items():
            lines.append(f"| {_cell(person)} | {counts.get('approve', 0)} | {counts.get('deny', 0)} |")
    else:
        lines.append("No decisions.")
    lines += ["", "## Top resources", ""]
    if report.top_resources:
        lines += ["| resource | incidents |", "|---|---:|"]
        lines += [f"| {_cell(row['resource'])} | {row['incidents']} |" for row in report.top_resources]
    else:
        lines.append("None named.")
    lines += [
        "",
        "## Incidents",
        "",
        "| opened | incident | type | outcome | contain | decide | duplicates |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    lines += [
        "| "
        + " | ".join(_cell(row[name]) for name in ("opened", "incident_id", "type", "outcome"))
        + f" | {duration(row['contain'])} | {duration(row['decision'])} | {row['duplicates']} |"
        for row in report.listed
    ]
    return "\n".join(lines) + "\n"
