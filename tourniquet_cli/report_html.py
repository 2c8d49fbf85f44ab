"""A report as one self-contained HTML file: inline styles and SVG charts, no script, nothing fetched."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from tourniquet.reports.markdown import duration, spread
from tourniquet.reports.summary import Incident, Report
from tourniquet_cli.charts import bars_svg, spans, timeline_svg

# The most recent incidents get a timeline chart each.
TIMELINES = 5

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 900px; color: #212529; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #dee2e6; }
.figures { display: flex; gap: 1rem; flex-wrap: wrap; }
.figure { border: 1px solid #dee2e6; border-radius: 6px; padding: 0.6rem 1rem; min-width: 180px; }
.figure b { display: block; font-size: 1.4rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #f1f3f5; }
td.n, th.n { text-align: right; }
svg { display: block; margin: 1rem 0; max-width: 100%; height: auto; }
"""


def _table(headings: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int]) -> str:
    def cells(tag: str, values: Sequence[object]) -> str:
        return "".join(
            f'<{tag} class="{"n" if i in numeric else ""}">{escape(str(value))}</{tag}>'
            for i, value in enumerate(values)
        )

    head = cells("th", headings)
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(report: Report, incidents: Sequence[Incident]) -> str:
    figures = [
        ("incidents", str(report.incidents)),
        ("time to contain", spread(report.time_to_contain)),
        ("time to decide", spread(report.time_to_decide)),
        ("duplicates folded", str(report.duplicates_folded)),
    ]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Tourniquet incident report {escape(report.since[:10])} to "
        f"{escape(report.until[:10])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Tourniquet incident report</h1>",
        f"<p>{escape(report.since)} to {escape(report.until)}</p>",
        '<div class="figures">',
        *(f'<div class="figure">{escape(name)}<b>{escape(value)}</b></div>' for name, value in figures),
        "</div>",
        "<h2>Outcomes</h2>",
        bars_svg({k: float(v) for k, v in report.by_outcome.items()}, title="Incidents by outcome"),
        "<h2>Incidents by type and outcome</h2>",
    ]
    outcomes = sorted(report.by_outcome)
    parts.append(
        _table(
            ["type", *outcomes, "total"],
            [
                [kind, *(counts.get(o, 0) for o in outcomes), sum(counts.values())]
                for kind, counts in report.by_type.items()
            ],
            numeric=set(range(1, len(outcomes) + 2)),
        )
    )
    parts.append("<h2>Timelines</h2>")
    recent = [incident for incident in incidents if incident.timeline][-TIMELINES:]
    if not recent:
        parts.append("<p>No incidents in this period.</p>")
    for incident in reversed(recent):
        title = f"{incident.id} · {incident.type} · {incident.outcome}"
        parts.append(timeline_svg(spans(incident.timeline), title=title))
    parts.append("<h2>Approvals by approver</h2>")
    parts.append(
        _table(
            ["approver", "approved", "denied"],
            [[p, c.get("approve", 0), c.get("deny", 0)] for p, c in report.approvals_by_approver.items()],
            numeric={1, 2},
        )
        if report.approvals_by_approver
        else "<p>No decisions.</p>"
    )
    parts.append("<h2>Top resources</h2>")
    parts.append(
        bars_svg(
            {row["resource"]: float(row["incidents"]) for row in report.top_resources},
            title="Incidents by resource",
        )
        if report.top_resources
        else "<p>None named.</p>"
    )
    parts.append("<h2>Incidents</h2>")
    parts.append(
        _table(
            ["opened", "incident", "type", "outcome", "contain", "decide", "duplicates"],
            [
                [
                    row["opened"],
                    row["incident_id"],
                    row["type"],
                    row["outcome"],
                    duration(row["contain"]),
                    duration(row["decision"]),
                    row["duplicates"],
                ]
                for row in report.listed
            ],
            numeric={4, 5, 6},
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
