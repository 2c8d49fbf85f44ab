"""``tourniquet incident show ID`` and ``tourniquet release INCIDENT``, against a deployed stack.

Both use the normal AWS credentials (profile, environment or SSO) in the hub's account. The table is named by
``--table`` or ``TOURNIQUET_TABLE``. A release starts the stack's release workflow (``--workflow`` or
``TOURNIQUET_RELEASE_WORKFLOW``), which restores every recorded before-state in its target's own account and
region, keeps the evidence snapshots, and records the caller's AWS identity as who released.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tourniquet import aws, store
from tourniquet.incidents import storm
from tourniquet.logs import logger
from tourniquet.state import IncidentRef, ReleaseInput, ReleaseResult, StepError

EXIT_FAILED = 1
EXIT_UNUSABLE = 2
RELEASE_WORKFLOW_ENV = "TOURNIQUET_RELEASE_WORKFLOW"
# Release waits for a started instance to run (up to minutes) before it rejoins its fleet.
RELEASE_WAIT_SECONDS = 600

TableOption = Annotated[
    str | None,
    typer.Option(
        "--table", envvar="TOURNIQUET_TABLE", help="The stack's table (default: $TOURNIQUET_TABLE)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a readable report.")]
IncidentArgument = Annotated[str, typer.Argument(help="The incident id (inc-…).")]

# What each timeline event shows after its kind, in this order, when present.
_FIELDS = (
    "check",
    "action",
    "step",
    "network_interface",
    "group",
    "mode",
    "status",
    "decision",
    "reason",
    "error",
)


def register(app: typer.Typer) -> None:
    incident = typer.Typer(no_args_is_help=True, help="Incidents recorded by a deployed stack.")
    incident.command("show")(show)
    app.add_typer(incident, name="incident")
    app.command("release")(release_command)


def _use_table(table: str | None) -> None:
    if not table:
        typer.echo("error: name the table with --table or TOURNIQUET_TABLE", err=True)
        raise typer.Exit(code=EXIT_UNUSABLE)
    # Settings are read from the environment on every call, so this is what tourniquet.store uses.
    os.environ["TABLE_NAME"] = table
    # The timeline is the record; the runtime's JSON log lines would only clutter the terminal.
    logger.setLevel("WARNING")


def _aws_failure(exc: Exception) -> typer.Exit:
    reason = aws.error_code(exc) or type(exc).__name__
    typer.echo(f"error: AWS refused or could not be reached: {reason}", err=True)
    return typer.Exit(code=EXIT_UNUSABLE)


def show(incident_id: IncidentArgument, table: TableOption = None, as_json: JsonOption = False) -> None:
    """Print an incident, every resource its alerts named (with how many alerts) and its timeline: every
    action with its mode, status, proof and request ids."""
    _use_table(table)
    try:
        incident = store.get_incident(incident_id)
        events = store.timeline(incident_id) if incident else []
        resources = storm.resources(incident_id) if incident else []
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure(exc) from None
    if incident is None:
        typer.echo(f"error: incident {incident_id} does not exist", err=True)
        raise typer.Exit(code=EXIT_UNUSABLE)
    if as_json:
        shown = {
            "incident": _public(incident),
            "resources": [dataclasses.asdict(resource) for resource in resources],
            "timeline": [_public(e) for e in events],
        }
        typer.echo(json.dumps(shown))
        return
    console = Console()
    console.print(
        f"[bold]Incident {escape(incident_id)}[/bold]  {escape(str(incident.get('status', '—')).upper())}"
        f"  playbook {escape(str(incident.get('playbook') or '—'))}"
    )
    if resources:
        console.print(f"{len(resources)} resources", highlight=False)
        for resource in resources:
            console.print(f"  {escape(resource.line())}", soft_wrap=True, highlight=False)
    for line in timeline_lines(events):
        console.print(line, soft_wrap=True, highlight=False)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """The item without its table keys (the approval's task token never reaches the timeline)."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}


def timeline_lines(events: list[dict[str, Any]]) -> list[str]:
    """One line per event (rich markup), and one indented line per problem its verification found."""
    lines = []
    for event in events:
        fields = " ".join(f"{k}={event[k]}" for k in _FIELDS if event.get(k) not in (None, ""))
        head = "  ".join(
            part
            for part in (
                escape(str(event.get("at", ""))),
                f"[bold]{escape(str(event.get('kind', '')))}[/bold]",
                escape(str(event.get("actor", ""))),
                escape(_target(event.get("target"))),
                escape(fields),
                _proof(event),
            )
            if part
        )
        lines.append(head)
        problems = (event.get("detail") or {}).get("problems") or []
        lines.extend(f"    [red]![/red] {escape(str(problem))}" for problem in problems)
    return lines


def _target(target: Any) -> str:
    if isinstance(target, dict):
        return str(target.get("id", ""))
    return str(target or "")


def _proof(event: dict[str, Any]) -> str:
    if "verified" not in event:
        return ""
    mark = "[green]verified[/green]" if event["verified"] else "[red]not verified[/red]"
    request_ids = [str(rid) for rid in event.get("request_id") or []]
    if request_ids:
        mark += escape(f" requests={','.join(request_ids)}")
    return mark


def _run_release(workflow: str, release_input: ReleaseInput) -> dict[str, Any]:
    """Start the release workflow and wait for it to finish; its description."""
    sfn = aws.client("stepfunctions")
    name = f"cli-{release_input.incident.id}-{uuid.uuid4().hex[:12]}"[:80]
    arn = sfn.start_execution(
        stateMachineArn=workflow, name=name, input=json.dumps(release_input.as_state())
    )["executionArn"]
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        # A Standard workflow has no call that waits for its end: the CLI asks once a second.
        time.sleep(1)


def _failure_reason(execution: dict[str, Any]) -> str:
    """Why a release run failed, in plain words: the error it ended with (never a stack trace)."""
    history = aws.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"], reverseOrder=True, maxResults=25
    )["events"]
    for event in history:
        if event["type"] == "FailStateEntered":
            state = json.loads(event["stateEnteredEventDetails"].get("input") or "{}")
            error = StepError.model_validate(state.get("error") or {})
            return error.message or error.error
    return str(execution["status"]).lower()


def _caller() -> str:
    """Who releases: the caller's AWS identity, as recorded on the timeline."""
    return str(aws.client("sts").get_caller_identity()["Arn"])


WorkflowOption = Annotated[
    str | None,
    typer.Option(
        "--workflow",
        envvar=RELEASE_WORKFLOW_ENV,
        help="The stack's release workflow: its output ReleaseStateMachineArn "
        f"(default: ${RELEASE_WORKFLOW_ENV}).",
    ),
]


def release_command(
    incident_id: IncidentArgument,
    table: TableOption = None,
    workflow: WorkflowOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the calls; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Return every contained resource to its recorded before-state (snapshots are kept).

    The release runs in the stack's release workflow, as a Release click does, so it acts in each target's
    own account and region through the member roles there; it is recorded under your AWS identity.
    """
    _use_table(table)
    if not workflow:
        typer.echo(f"error: name the release workflow with --workflow or {RELEASE_WORKFLOW_ENV}", err=True)
        raise typer.Exit(code=EXIT_UNUSABLE)
    try:
        if store.get_incident(incident_id) is None:
            typer.echo(f"error: incident {incident_id} does not exist", err=True)
            raise typer.Exit(code=EXIT_UNUSABLE)
        execution = _run_release(
            workflow, ReleaseInput(incident=IncidentRef(id=incident_id), actor=_caller(), dry_run=dry_run)
        )
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure(exc) from None
    if execution["status"] != "SUCCEEDED":
        typer.echo(f"release failed: {_failure_reason(execution)}", err=True)
        typer.echo(f"the timeline records each restoration: tourniquet incident show {incident_id}", err=True)
        raise typer.Exit(code=EXIT_FAILED)
    result = ReleaseResult.model_validate(json.loads(execution["output"])["release"])
    if as_json:
        typer.echo(json.dumps(result.as_state()))
        return
    console = Console()
    console.print(f"[bold]Incident {escape(incident_id)}[/bold]  {result.status.upper()}")
    rows = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("action", "target", "status", "detail"):
        rows.add_column(column)
    for item in result.restorations:
        detail = item.detail
        shown = detail.get("reason") or ", ".join(c["operation"] for c in detail.get("calls", []))
        rows.add_row(escape(item.action), escape(item.target), escape(item.status), escape(shown))
    console.print(rows, soft_wrap=True)
