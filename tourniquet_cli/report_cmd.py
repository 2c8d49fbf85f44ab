"""``tourniquet report``: the incidents of a period, by type and outcome, with how fast they were contained
and decided, who decided, the duplicates folded and the resources most affected.

It reads a deployed stack's table (``--table`` or ``TOURNIQUET_TABLE``) with the normal AWS credentials, or
the sandbox's table while ``tourniquet demo --open`` runs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

_PERIOD = re.compile(r"(\d{1,4})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Format(StrEnum):
    md = "md"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def since_moment(value: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` before ``now``, or an ISO 8601 date or time (UTC unless it says)."""
    period = _PERIOD.fullmatch(value.strip())
    if period:
        return now - timedelta(**{_UNITS[period.group(2)]: int(period.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since: expected a period like 7d, 12h or 30m, or an ISO date, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report(
    since: Annotated[
        str, typer.Option("--since", help="How far back: a period (30m, 12h, 7d, 2w) or an ISO date.")
    ] = "7d",
    output_format: Annotated[
        Format, typer.Option("--format", help="Markdown, JSON, or one self-contained HTML file with charts.")
    ] = Format.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            "--table", envvar="TOURNIQUET_TABLE", help="The stack's table (default: $TOURNIQUET_TABLE)."
        ),
    ] = None,
) -> None:
    """Report on the incidents opened in a period (the last 7 days by default)."""
    # Imported here: the table's client and the report's models are needed by this command only.
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from tourniquet.reports import markdown, summary  # noqa: PLC0415
    from tourniquet_cli.incident_cmd import _aws_failure, _use_table  # noqa: PLC0415

    now = datetime.now(UTC)
    try:
        start = since_moment(since, now)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    _use_table(table)
    try:
        incidents = list(summary.read(start))
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure(exc) from None
    found = summary.summarize(incidents, start, now)
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
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
