"""Charts as inline SVG, drawn here: a report or a page that shows them needs no script and no network.

Every text drawn comes from alerts or the table, so every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

from tourniquet.incidents.measures import since_opened

Kind = Literal["diagnostic", "automatic", "wait", "approved", "mark"]
COLOURS: dict[str, str] = {
    "diagnostic": "#5b8def",
    "automatic": "#2f9e44",
    "wait": "#f08c00",
    "approved": "#c92a2a",
    "mark": "#495057",
    "contained": "#2f9e44",
    "denied": "#868e96",
    "expired": "#f08c00",
    "failed": "#c92a2a",
    "alerted": "#5b8def",
    "planned": "#845ef7",
    "open": "#adb5bd",
}
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class Span:
    """One row of an incident's timeline chart: seconds from the opening; a mark has no length."""

    label: str
    start: float
    end: float
    kind: Kind
    ticks: tuple[float, ...] = ()


def spans(timeline: Sequence[Mapping[str, Any]]) -> list[Span]:
    """The phases of an incident, from its recorded timeline: the opening, each diagnostic check (they run
    in parallel), the automatic containment, the wait for approval, the approved steps and the outcome."""
    counted = since_opened(timeline)
    if counted is None:
        return []
    events, since = counted

    def first(kind: str) -> float | None:
        return next((since(e.get("at")) for e in events if e.get("kind") == kind), None)

    rows = [Span("alert opened", 0.0, 0.0, "mark")]
    plan = next((e for e in events if e.get("kind") == "planned"), None)
    for check in (plan or {}).get("diagnostics") or []:
        start, end = since(check.get("started_at")), since(check.get("finished_at"))
        if start is not None and end is not None:
            label = f"diagnose {check.get('check')} ({check.get('status')})"
            rows.append(Span(label, start, end, "diagnostic"))

    def acted(mode: str) -> tuple[float, ...]:
        times = (since(e.get("at")) for e in events if e.get("kind") == "action" and e.get("mode") == mode)
        return tuple(at for at in times if at is not None)

    automatic = acted("auto")
    if automatic:
        began = since(plan.get("at")) if plan else None
        start = min(automatic) if began is None else began
        rows.append(Span("automatic containment", start, max(automatic), "automatic", automatic))
    triaged = first("triage")
    if triaged is not None:
        rows.append(Span("triage verdict", triaged, triaged, "mark"))
    approved = acted("approval")
    if approved:
        decided = first("decision")
        start = min(approved) if decided is None else decided
        rows.append(Span("approved steps", start, max(approved), "approved", approved))
    asked = first("approval_requested")
    if asked is not None:
        ends = (first(kind) for kind in ("decision", "approval_expired", "outcome"))
        answered = next((at for at in ends if at is not None), None)
        if answered is None:
            rows.append(Span("waiting for approval", asked, asked, "wait"))
        else:
            rows.append(Span(f"approval wait ({_seconds(answered - asked)})", asked, answered, "wait"))
    duplicates = [since(e.get("at")) for e in events if e.get("kind") == "duplicate"]
    if duplicates:
        seen = tuple(at for at in duplicates if at is not None)
        rows.append(Span(f"duplicates folded ({len(seen)})", min(seen), min(seen), "mark", seen))
    outcome = next((e for e in events if e.get("kind") == "outcome"), None)
    if outcome is not None:
        at = since(outcome.get("at")) or 0.0
        rows.append(Span(f"outcome: {outcome.get('status')}", at, at, "mark"))
    return sorted(rows, key=lambda row: row.start)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def timeline_svg(rows: Sequence[Span], *, title: str, width: int = 860) -> str:
    """A Gantt chart of ``spans``: one row each, on a shared axis of seconds since the opening."""
    label_width, row_height, top = 300, 22, 28
    plot = width - label_width - 20
    end = max([row.end for row in rows] + [max(row.ticks, default=0.0) for row in rows] + [1.0])
    height = top + row_height * len(rows) + 30

    def x(seconds: float) -> float:
        return label_width + plot * seconds / end

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}" {_FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for i, row in enumerate(rows):
        y = top + i * row_height
        colour = COLOURS[row.kind]
        parts.append(f'<text x="0" y="{y + 15}">{escape(row.label)}</text>')
        if row.end > row.start:
            parts.append(
                f'<rect class="span {row.kind}" x="{x(row.start):.1f}" y="{y + 4}" '
                f'width="{max(x(row.end) - x(row.start), 2):.1f}" height="{row_height - 8}" rx="3" '
                f'fill="{colour}"><title>{escape(row.label)}: {row.start:.2f} s to {row.end:.2f} s</title>'
                "</rect>"
            )
        else:
            parts.append(
                f'<circle class="mark" cx="{x(row.start):.1f}" cy="{y + row_height / 2}" r="5" '
                f'fill="{colour}">'
                f"<title>{escape(row.label)}: {row.start:.2f} s</title></circle>"
            )
        parts += [
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y + 2}" y2="{y + row_height - 2}" stroke="#212529"/>'
            for t in row.ticks
        ]
    axis = top + row_height * len(rows) + 6
    parts.append(f'<line x1="{label_width}" x2="{width - 20}" y1="{axis}" y2="{axis}" stroke="#adb5bd"/>')
    for step in range(5):
        seconds = end * step / 4
        parts.append(
            f'<text x="{x(seconds):.1f}" y="{axis + 16}" text-anchor="middle" fill="#495057">'
            f"{_seconds(seconds)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(values: Mapping[str, float], *, title: str, width: int = 860) -> str:
    """Horizontal bars, one per label, longest first as given; coloured by label when it is an outcome."""
    label_width, row_height = 300, 22
    height = 28 + row_height * len(values)
    largest = max([*values.values(), 1.0])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="bars" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {_FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 28 + i * row_height
        length = (width - label_width - 90) * value / largest
        shown = f"{value:g}"
        parts += [
            f'<text x="0" y="{y + 15}">{escape(label)}</text>',
            f'<rect x="{label_width}" y="{y + 4}" width="{max(length, 1):.1f}" '
            f'height="{row_height - 8}" rx="3" '
            f'fill="{COLOURS.get(label, "#5b8def")}"/>',
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{escape(shown)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
