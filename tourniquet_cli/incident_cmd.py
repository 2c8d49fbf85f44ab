"""``tourniquet incident list|show`` and ``tourniquet release INCIDENT``, against a deployed stack.

Both use the normal AWS credentials (profile, environment or SSO) in the hub's account. The table is named by
``--table`` or ``TOURNIQUET_TABLE``. A release starts the stack's release workflow (``--workflow`` or
``TOURNIQUET_RELEASE_WORKFLOW``), which restores every recorded before-state in its target's own account and
region, keeps the evidence snapshots, and records the caller's AWS identity as who released.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from tourniquet_cli import event_text
from tourniquet_cli.options import EXIT_FAILED, ProfileOption, RegionOption, refuse, use_aws

if TYPE_CHECKING:
    from tourniquet.state import ReleaseInput

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


def register(app: typer.Typer) -> None:
    incident = typer.Typer(
        no_args_is_help=True, rich_markup_mode=None, help="Incidents recorded by a deployed stack."
    )
    incident.command("list")(list_command)
    incident.command("show")(show)
    app.add_typer(incident, name="incident")
    app.command("release")(release_command)


def _use_table(table: str | None, region: str | None = None, profile: str | None = None) -> None:
    if not table:
        refuse("name the table with --table or TOURNIQUET_TABLE")
    use_aws(region, profile)
    from tourniquet.logs import logger  # noqa: PLC0415 - the runtime loads only when AWS is reached

    # Settings are read from the environment on every call, so this is what tourniquet.store uses.
    os.environ["TABLE_NAME"] = table
    # The timeline is the record; the runtime's JSON log lines would only clutter the terminal.
    logger.setLevel("WARNING")


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    return (ClientError, BotoCoreError)


def _aws_failure(exc: Exception) -> NoReturn:
    from tourniquet import aws  # noqa: PLC0415

    refuse(f"AWS refused or could not be reached: {aws.error_code(exc) or type(exc).__name__}")


class Status(StrEnum):
    """An incident's status: open while the workflow runs, then its outcome; resolved, or released later."""

    OPEN = "open"
    CONTAINED = "contained"
    PLANNED = "planned"
    ALERTED = "alerted"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    RESOLVED = "resolved"
    RELEASED = "released"


_SINCE = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_time(value: str, now: datetime | None = None) -> str:
    """``7d``, ``12h``, ``30m``, ``2w`` before now, or an ISO 8601 date or time: as the index's sort key."""
    now = now or datetime.now(UTC)
    found = _SINCE.fullmatch(value.strip())
    if found:
        try:
            moment = now - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
        except OverflowError:
            refuse(f"--since: {value.strip()} reaches back before the calendar begins")
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            refuse(f"--since: expected a span like 7d, 12h, 30m or 2w, or an ISO 8601 date, got {value!r}")
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def list_command(
    *,
    status: Annotated[Status | None, typer.Option("--status", help="Only incidents in this status.")] = None,
    incident_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only this alert type (exactly as recorded, e.g. Recon:EC2/PortProbeUnprotectedPort).",
        ),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="First seen within this span (7d, 12h, 30m, 2w) or since a date.")
    ] = "7d",
    table: TableOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List incidents, newest first, from the table's by-type index."""
    start = since_time(since)
    _use_table(table, region, profile)
    from tourniquet import store  # noqa: PLC0415

    try:
        found = store.incidents(
            since=start, incident_type=incident_type, status=status.value if status else None
        )
    except _aws_errors() as exc:
        _aws_failure(exc)
    if as_json:
        for item in found:
            typer.echo(json.dumps(_summary(item)))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    rows = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("incident", "first seen", "status", "severity", "type", "playbook", "title"):
        rows.add_column(column)
    for item in found:
        rows.add_row(*(escape(str(value or "—")) for value in _summary(item).values()))
    console = Console()
    console.print(rows, soft_wrap=True)
    console.print(f"{len(found)} incident(s) first seen since {start}", highlight=False)


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "incident_id": item.get("incident_id"),
        "first_seen": item.get("first_seen"),
        "status": item.get("status"),
        "severity": item.get("severity"),
        "type": item.get("type"),
        "playbook": item.get("playbook"),
        "title": item.get("title"),
    }


def show(
    incident_id: IncidentArgument,
    table: TableOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print an incident, every resource its alerts named (with how many alerts) and its timeline: every
    action with its mode, status, proof and request ids."""
    _use_table(table, region, profile)
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415

    from tourniquet import store  # noqa: PLC0415
    from tourniquet.incidents import storm  # noqa: PLC0415

    try:
        incident = store.get_incident(incident_id)
        events = store.timeline(incident_id) if incident else []
        resources = storm.resources(incident_id) if incident else []
    except _aws_errors() as exc:
        _aws_failure(exc)
    if incident is None:
        refuse(f"incident {incident_id} does not exist")
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
    from rich.markup import escape  # noqa: PLC0415

    lines = []
    for event in events:
        fields = event_text.detail(event)
        head = "  ".join(
            part
            for part in (
                escape(str(event.get("at", ""))),
                f"[bold]{escape(str(event.get('kind', '')))}[/bold]",
                escape(str(event.get("actor", ""))),
                escape(event_text.target(event.get("target"))),
                escape(fields),
                _proof(event),
            )
            if part
        )
        lines.append(head)
        problems = (event.get("detail") or {}).get("problems") or []
        lines.extend(f"    [red]![/red] {escape(str(problem))}" for problem in problems)
    return lines


def _proof(event: dict[str, Any]) -> str:
    from rich.markup import escape  # noqa: PLC0415

    if "verified" not in event:
        return ""
    mark = "[green]verified[/green]" if event["verified"] else "[red]not verified[/red]"
    request_ids = [str(rid) for rid in event.get("request_id") or []]
    if request_ids:
        mark += escape(f" requests={','.join(request_ids)}")
    return mark


def _run_release(workflow: str, release_input: ReleaseInput) -> dict[str, Any]:
    """Start the release workflow and wait for it to finish; its description."""
    from tourniquet import aws  # noqa: PLC0415

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
    from tourniquet import aws  # noqa: PLC0415
    from tourniquet.state import StepError  # noqa: PLC0415

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
    from tourniquet import aws  # noqa: PLC0415

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
    *,
    table: TableOption = None,
    workflow: WorkflowOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the calls; change nothing.")] = False,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Return every contained resource to its recorded before-state (snapshots are kept).

    The release runs in the stack's release workflow, as a Release click does, so it acts in each target's
    own account and region through the member roles there; it is recorded under your AWS identity.
    """
    _use_table(table, region, profile)
    if not workflow:
        refuse(f"name the release workflow with --workflow or {RELEASE_WORKFLOW_ENV}")
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from tourniquet import store  # noqa: PLC0415
    from tourniquet.state import IncidentRef, ReleaseInput, ReleaseResult  # noqa: PLC0415

    try:
        if store.get_incident(incident_id) is None:
            refuse(f"incident {incident_id} does not exist")
        execution = _run_release(
            workflow, ReleaseInput(incident=IncidentRef(id=incident_id), actor=_caller(), dry_run=dry_run)
        )
    except _aws_errors() as exc:
        _aws_failure(exc)
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
