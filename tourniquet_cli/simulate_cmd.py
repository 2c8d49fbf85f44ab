"""``tourniquet demo`` and ``tourniquet simulate FILE…``: alerts through the real workflow in the sandbox."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, ExitStack, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tourniquet_cli.options import EXIT_REFUSED, refuse

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from sandbox.core import Sandbox
    from tourniquet_cli.alert_files import Delivery
    from tourniquet_cli.scenario import Progress

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "guardduty-ec2-finding.json"


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    TIMEOUT = "timeout"


DecisionOption = Annotated[
    Decision,
    typer.Option("--decision", help="What the approver does: approve, deny, or nothing (timeout)."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per alert instead of a report.")
]
ModelOption = Annotated[
    bool,
    typer.Option(
        "--model",
        help="Let a model raise each verdict: the sandbox's stand-in for Bedrock's Converse API answers.",
    ),
]
OpenOption = Annotated[
    bool,
    typer.Option(
        "--open",
        help="Serve the incident on a page at 127.0.0.1 and open it: you press Approve or Deny there.",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also show the functions' own log lines.")
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("simulate")(simulate)


def _decided_on_the_page(ctx: typer.Context, open_page: bool) -> None:
    """With the page open a person decides there: a --decision as well would be silently ignored."""
    from typer._click.core import ParameterSource  # noqa: PLC0415 - the click typer runs on

    if open_page and ctx.get_parameter_source("decision") is not ParameterSource.DEFAULT:
        refuse("--decision: with --open a person decides on the page; leave --decision out")


def demo(
    ctx: typer.Context,
    decision: DecisionOption = Decision.APPROVE,
    as_json: JsonOption = False,
    model: ModelOption = False,
    *,
    open_page: OpenOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the bundled GuardDuty EC2 finding through the whole workflow in the embedded sandbox."""
    _decided_on_the_page(ctx, open_page)
    run_files([EXAMPLE], decision, as_json, verbose, model=model, open_page=open_page)


def simulate(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Alert files (JSON), run in order in one sandbox.")],
    decision: DecisionOption = Decision.APPROVE,
    as_json: JsonOption = False,
    model: ModelOption = False,
    *,
    open_page: OpenOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run each alert file, in order, through the workflow in one embedded sandbox."""
    _decided_on_the_page(ctx, open_page)
    run_files(files, decision, as_json, verbose, model=model, open_page=open_page)


def run_files(
    files: list[Path],
    decision: Decision,
    as_json: bool,
    verbose: bool,
    *,
    model: bool = False,
    open_page: bool = False,
) -> None:
    """Run every file it can; each file that fails gets one line on stderr, and the exit code is then 2.
    With ``open_page`` a person decides on the incident page; nothing clicks for them."""
    # Imported here: the sandbox brings moto and the CDK, which commands that do not run it should not load.
    import logging  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from sandbox.seed import SeedError  # noqa: PLC0415
    from tourniquet.logs import logger  # noqa: PLC0415
    from tourniquet_cli import render  # noqa: PLC0415
    from tourniquet_cli.scenario import Progress, approval_card, run_alert, sandbox_for  # noqa: PLC0415

    console = Console(stderr=True)
    # In AWS the functions' logs go to CloudWatch, not to whoever sent the alert; here too, unless asked.
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    failures = 0

    def fail(message: str) -> None:
        nonlocal failures
        failures += 1
        typer.echo(f"error: {' '.join(message.split())}", err=True)

    # Every file is read before the sandbox starts: unusable ones cost nothing, and are reported first.
    events = _deliveries(files, fail)
    if not events:
        raise typer.Exit(code=EXIT_REFUSED)

    def stage(name: str, seconds: float) -> None:
        # The sandbox's start-up stages as they end: moto, synth, organization, deploy, member stacks.
        if not as_json:
            console.print(f"  [dim]sandbox: {name} {seconds:.1f} s[/dim]")

    progress = Progress() if as_json else Progress(step=lambda m: console.print(f"  [cyan]>[/cyan] {m}"))
    with ExitStack() as stack:
        if not as_json:
            console.print("Starting the sandbox...")
        sandbox = stack.enter_context(sandbox_for(decision.value, model=model, on_stage=stage))
        if not as_json:
            console.print(f"[bold]Sandbox ready[/bold] in {sandbox.startup_seconds:.1f} s")
        stack.enter_context(_incident_page(sandbox, progress, console) if open_page else nullcontext())
        for path, delivery in events:
            if not as_json:
                console.rule(f"[bold]{path.name}")
            try:
                run = run_alert(
                    sandbox,
                    path,
                    delivery.event,
                    # With the page open, a person decides there.
                    "manual" if open_page else decision.value,
                    progress,
                    via_rules=delivery.via_rules,
                )
            except SeedError as exc:
                fail(f"{path}: no look-alikes: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - one file's failure must not cost the others their run
                if verbose:
                    console.print_exception()
                fail(f"{path}: {type(exc).__name__}: {exc}")
                continue
            if as_json:
                typer.echo(json.dumps(run.result, default=str))
            else:
                incident_id = run.result["incident_id"]
                render.alert_report(
                    console, run.result, approval_card(sandbox, incident_id) if incident_id else None
                )
    if failures:
        raise typer.Exit(code=EXIT_REFUSED)


def _incident_page(sandbox: Sandbox, progress: Progress, console: Console) -> AbstractContextManager[object]:
    from tourniquet_cli.incident_page import served  # noqa: PLC0415

    return served(sandbox, progress, lambda line: console.print(f"[bold]{line}"))


def _deliveries(files: list[Path], fail: Callable[[str], None]) -> list[tuple[Path, Delivery]]:
    """Every alert of every readable file; each unreadable one is told to ``fail``."""
    from tourniquet_cli.alert_files import AlertFileError, read_alerts  # noqa: PLC0415

    events = []
    for path in files:
        try:
            events += [(path, delivery) for delivery in read_alerts(path)]
        except AlertFileError as exc:
            fail(str(exc))
    return events
