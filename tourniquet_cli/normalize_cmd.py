"""``tourniquet normalize FILE [--json]``: what the intake makes of a saved alert, with no AWS or sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tourniquet_cli.options import refuse

if TYPE_CHECKING:
    from rich.table import Table

    from tourniquet.intake.common import Outcome

FileArgument = Annotated[
    Path, typer.Argument(help="A raw alert or delivery (JSON) from any supported source.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per alert instead of a table.")
]


def register(app: typer.Typer) -> None:
    app.command("normalize")(normalize)


def normalize(file: FileArgument, as_json: JsonOption = False) -> None:
    """Normalize a saved alert (GuardDuty, Security Hub, CloudWatch, Grafana, Alertmanager) and print it."""
    from rich.console import Console  # noqa: PLC0415 - the runtime and rich load when the command runs

    from tourniquet.errors import InvalidAlert  # noqa: PLC0415
    from tourniquet.intake.normalize import normalize_all  # noqa: PLC0415
    from tourniquet_cli.alert_files import AlertFileError, load_json  # noqa: PLC0415

    try:
        outcomes = normalize_all(load_json(file))
    except (AlertFileError, InvalidAlert) as exc:
        refuse(str(exc))
    if as_json:
        for outcome in outcomes:
            typer.echo(json.dumps(as_json_object(outcome)))
        return
    console = Console()
    for index, outcome in enumerate(outcomes):
        if index:
            console.print()
        console.print(render(outcome))


def as_json_object(outcome: Outcome) -> dict[str, Any]:
    from tourniquet.intake.model import Alert  # noqa: PLC0415
    from tourniquet.state import Ignored  # noqa: PLC0415

    if isinstance(outcome, Alert):
        return outcome.model_dump(mode="json")
    if isinstance(outcome, Ignored):
        return {"ignored": outcome.reason}
    return {
        "resolved": {
            "source": outcome.source,
            "dedup_key": outcome.dedup_key,
            "finding_id": outcome.finding_id,
            "title": outcome.title,
            "reason": outcome.reason,
            "time": outcome.time,
        }
    }


def render(outcome: Outcome) -> Table | str:
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from tourniquet.intake.model import Alert  # noqa: PLC0415
    from tourniquet.state import Ignored  # noqa: PLC0415

    if isinstance(outcome, Ignored):
        return f"[yellow]ignored[/yellow] ({escape(outcome.source)}): {escape(outcome.reason)}"
    if not isinstance(outcome, Alert):
        return (
            f"[green]resolved[/green] ({escape(outcome.source)}): {escape(outcome.title)}, "
            f"{escape(outcome.reason)}\n  dedup key {escape(outcome.dedup_key)}"
        )
    table = Table(show_header=False, box=None, title=escape(outcome.title), title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    resource = outcome.primary_resource
    actor = outcome.actor
    rows = [
        ("source", f"{outcome.source} ({outcome.product})"),
        ("type", outcome.type),
        ("category", outcome.category),
        ("severity", f"{outcome.severity.value} (raw {outcome.severity_raw or 'none'})"),
        ("account", f"{outcome.account} / {outcome.region}"),
        ("time", outcome.time),
        ("resource", f"{resource.type} {resource.id}" if resource else "none"),
        (
            "actor",
            ", ".join(f"{k} {v}" for k, v in actor.model_dump(exclude_none=True).items())
            if actor
            else "none",
        ),
        ("dedup key", outcome.dedup_key),
        ("count", str(outcome.count)),
    ]
    if outcome.drill:
        rows.append(("drill", "yes: a sample, never paged as real"))
    for name, value in rows:
        table.add_row(name, escape(value))
    return table
