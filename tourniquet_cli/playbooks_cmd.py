"""``tourniquet playbooks list|show|validate`` and ``tourniquet actions``: the playbooks a deployment runs
and the containment actions they may use, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tourniquet_cli.options import ConfigOption, deployment_config, refuse

if TYPE_CHECKING:
    from tourniquet.playbooks.catalog import Playbook

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="A playbooks file (TOML); default: the one the deployment's config names (key 'playbooks'), "
        "else the bundled playbooks.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    playbooks = typer.Typer(
        no_args_is_help=True, help="The playbooks a deployment runs: list, show, validate."
    )
    playbooks.command("list")(list_playbooks)
    playbooks.command("show")(show_playbook)
    playbooks.command("validate")(validate_command)
    app.add_typer(playbooks, name="playbooks")
    app.command("actions")(actions)


def playbooks_path(file: Path | None, config_file: Path | None) -> Path | None:
    """The playbooks file in use: ``file``, else the deployment's, else None (the bundled one)."""
    return file if file is not None else deployment_config(config_file).playbooks


def load_playbooks(file: Path | None, config_file: Path | None = None) -> tuple[Playbook, ...]:
    """The playbooks in use, validated; a file that is not usable ends the command in one line."""
    from tourniquet.playbooks.catalog import BUNDLED, PlaybookError, validate  # noqa: PLC0415

    try:
        return validate(playbooks_path(file, config_file) or BUNDLED)
    except PlaybookError as exc:
        refuse(str(exc))


def list_playbooks(file: FileOption = None, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every playbook in matching order (the first whose match fits an alert answers it)."""
    playbooks = load_playbooks(file, config)
    if as_json:
        for playbook in playbooks:
            typer.echo(json.dumps(playbook.model_dump(mode="json")))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("id", "matches", "automatic", "after approval"):
        table.add_column(column)
    for playbook in playbooks:
        table.add_row(
            escape(playbook.id),
            escape(_match_text(playbook)),
            escape(", ".join(a.name for a in playbook.actions if a.mode == "auto") or "—"),
            escape(", ".join(a.name for a in playbook.actions if a.mode == "approval") or "—"),
        )
    Console().print(table, soft_wrap=True)


def _match_text(playbook: Playbook) -> str:
    given = playbook.match.model_dump(mode="json", exclude_defaults=True)
    return "; ".join(f"{key} {_text(value)}" for key, value in given.items()) or "every alert"


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def show_playbook(
    playbook_id: Annotated[str, typer.Argument(help="The playbook's id (see `tourniquet playbooks list`).")],
    file: FileOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One playbook: what it matches, its runbook and each action with its mode and AWS calls."""
    playbooks = load_playbooks(file, config)
    playbook = next((p for p in playbooks if p.id == playbook_id), None)
    if playbook is None:
        refuse(f"no playbook {playbook_id!r}; the playbooks are {', '.join(p.id for p in playbooks)}")
    from tourniquet_cli.action_calls import ACTIONS, describe  # noqa: PLC0415

    steps = [
        {"name": a.name, "mode": a.mode, **(_calls(describe(a.name)) if a.name in ACTIONS else {})}
        for a in playbook.actions
    ]
    if as_json:
        typer.echo(json.dumps({**playbook.model_dump(mode="json"), "actions": steps}))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415

    console = Console()
    console.print(f"[bold]{escape(playbook.id)}[/bold]: {escape(playbook.title)}", highlight=False)
    fields = playbook.model_dump(mode="json", exclude={"id", "title", "match", "actions", "next_steps"})
    console.print(f"  matches: {escape(_match_text(playbook))}", highlight=False)
    for key, value in fields.items():
        if value not in ((), [], None, ""):
            console.print(f"  {key}: {escape(_text(value))}", highlight=False)
    for step in steps:
        calls = ", ".join(step.get("calls", [])) or "not implemented: by hand, per the runbook"
        undo = ", ".join(step.get("undo", [])) or step.get("kept") or "—"
        console.print(f"  {step['mode']:>8}  {escape(step['name'])}: {escape(calls)}; undo: {escape(undo)}")
    for number, text in enumerate(playbook.next_steps, 1):
        console.print(f"  step {number}: {escape(text)}", highlight=False)


def _calls(action: Any) -> dict[str, Any]:
    return {"calls": list(action.changes), "undo": list(action.undo), "kept": action.kept}


def validate_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Playbooks files (TOML); default: the deployment's, else the bundled one."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check playbooks files as the synth does: each error names the file, the playbook and the key."""
    from tourniquet.playbooks.catalog import BUNDLED, PlaybookError, validate  # noqa: PLC0415

    paths = files or [deployment_config(config).playbooks or BUNDLED]
    problems = 0
    for path in paths:
        try:
            typer.echo(f"{path}: {len(validate(path))} playbooks, valid")
        except PlaybookError as exc:
            problems += 1
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
    if problems:
        raise typer.Exit(code=2)


def actions(as_json: JsonOption = False) -> None:
    """Every containment action: its target, whether it is destructive, whether release undoes it, and the
    IAM actions it needs (read from its code: its reads, and the calls it makes to contain and to undo)."""
    from tourniquet_cli.action_calls import all_actions  # noqa: PLC0415

    found = all_actions()
    if as_json:
        for action in found:
            typer.echo(
                json.dumps(
                    {
                        "name": action.name,
                        "target": action.target_type,
                        "mode": "approval only" if action.destructive else "auto or approval",
                        "destructive": action.destructive,
                        "undoable": action.undoable,
                        "kept": action.kept,
                        "calls": list(action.changes),
                        "undo": list(action.undo),
                        "iam": list(action.iam),
                    }
                )
            )
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(show_header=True, header_style="bold", show_lines=True)
    for column in ("action", "mode", "target", "undo", "IAM it needs"):
        table.add_column(column)
    for action in found:
        table.add_row(
            escape(action.name),
            "approval only" if action.destructive else "auto or approval",
            escape(action.target_kind),
            escape("release undoes it" if action.undoable else f"no: {action.kept or 'nothing to undo'}"),
            escape("\n".join(action.iam)),
        )
    Console().print(table)
