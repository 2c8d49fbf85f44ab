"""``tourniquet normalize FILE [--json]``: what the intake makes of a saved alert, with no AWS or sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tourniquet.errors import InvalidAlert
from tourniquet.intake.common import Outcome
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize_all
from tourniquet.state import Ignored

EXIT_UNUSABLE = 2

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
    try:
        outcomes = normalize_all(_read(file))
    except (_Unreadable, InvalidAlert) as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        raise typer.Exit(code=EXIT_UNUSABLE) from None
    if as_json:
        for outcome in outcomes:
            typer.echo(json.dumps(as_json_object(outcome)))
        return
    console = Console()
    for index, outcome in enumerate(outcomes):
        if index:
            console.print()
        console.print(_render(outcome))


def as_json_object(outcome: Outcome) -> dict[str, Any]:
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


class _Unreadable(Exception):
    """The file cannot be read as JSON; the message names the file and the problem."""


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _Unreadable(f"{path}: no such file") from exc
    except OSError as exc:
        raise _Unreadable(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise _Unreadable(f"{path}: JSON nested too deeply") from exc


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _render(outcome: Outcome) -> Table | str:
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
