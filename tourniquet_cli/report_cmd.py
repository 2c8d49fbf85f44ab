"""``tourniquet report``: the incidents of a period, by type and outcome, with how fast they were contained
and decided, who decided, the duplicates folded and the resources most affected.

It reads a deployed stack's table (``--table`` or ``TOURNIQUET_TABLE``) through its by-type index, with the
normal AWS credentials; on a sandbox, the incident page (``tourniquet demo --open``) links the same report.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tourniquet_cli.incident_cmd import TableOption, _aws_errors, _aws_failure, _use_table, since_time
from tourniquet_cli.options import ProfileOption, RegionOption, refuse


class Format(StrEnum):
    md = "md"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    *,
    since: Annotated[
        str, typer.Option("--since", help="How far back: a span (30m, 12h, 7d, 2w) or an ISO 8601 date.")
    ] = "7d",
    output_format: Annotated[
        Format, typer.Option("--format", help="Markdown, JSON, or one self-contained HTML file with charts.")
    ] = Format.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    table: TableOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Report on the incidents first seen in a period (the last 7 days by default)."""
    # Imported here: the table's client and the report's models are needed by this command only.
    from tourniquet import store  # noqa: PLC0415
    from tourniquet.reports import markdown, summary  # noqa: PLC0415

    start = since_time(since)
    _use_table(table, region, profile)
    until = store.iso()
    try:
        incidents = list(summary.read(start))
    except _aws_errors() as exc:
        _aws_failure(exc)
    found = summary.summarize(incidents, start, until)
    if output_format is Format.json:
        text = json.dumps(found.as_json(), indent=2) + "\n"
    elif output_format is Format.html:
        from tourniquet_cli import report_html  # noqa: PLC0415

        text = report_html.render(found, incidents)
    else:
        text = markdown.render(found)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            refuse(f"could not write {output}: {exc.strerror or exc}")
        typer.echo(f"wrote {output}", err=True)
