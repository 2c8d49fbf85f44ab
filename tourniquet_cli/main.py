"""The `tourniquet` command."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tourniquet_cli import approve_cmd, evaluate_cmd, incident_cmd, normalize_cmd, render, report_cmd
from tourniquet_cli.scenario import AlertFileError, Decision, Progress, read_alerts

if TYPE_CHECKING:
    from sandbox.core import Sandbox

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Tourniquet: contain AWS incidents in seconds."
)
console = Console(stderr=True)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "guardduty-ec2-finding.json"

DecisionOption = Annotated[
    str, typer.Option("--decision", help="What the approver does: approve, deny, or nothing (timeout).")
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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _decision(value: str, open_page: bool = False) -> Decision:
    if open_page:
        return "manual"  # a person decides on the page
    if value not in ("approve", "deny", "timeout"):
        raise _fail(f"--decision: expected approve, deny or timeout, got {value!r}")
    return value  # type: ignore[return-value]


@app.command()
def demo(
    decision: DecisionOption = "approve",
    as_json: JsonOption = False,
    model: ModelOption = False,
    open_page: OpenOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the bundled GuardDuty EC2 finding through the whole workflow in the embedded sandbox."""
    _simulate([EXAMPLE], _decision(decision, open_page), as_json, verbose, model=model, open_page=open_page)


@app.command()
def simulate(
    files: Annotated[list[Path], typer.Argument(help="Alert files (JSON), run in order in one sandbox.")],
    decision: DecisionOption = "approve",
    as_json: JsonOption = False,
    model: ModelOption = False,
    *,
    open_page: OpenOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Run each alert file, in order, through the workflow in one embedded sandbox."""
    _simulate(files, _decision(decision, open_page), as_json, verbose, model=model, open_page=open_page)


def _simulate(
    files: list[Path],
    decision: Decision,
    as_json: bool,
    verbose: bool,
    *,
    model: bool = False,
    open_page: bool = False,
) -> None:
    """Run every file it can; each file that fails gets one line on stderr, and the exit code is then 2."""
    # Imported here: the sandbox brings moto and the CDK, which commands that do not run it should not load.
    from sandbox.seed import SeedError  # noqa: PLC0415
    from tourniquet.logs import logger  # noqa: PLC0415
    from tourniquet_cli.scenario import approval_card, run_alert, sandbox_for  # noqa: PLC0415

    # In AWS the functions' logs go to CloudWatch, not to whoever sent the alert; here too, unless asked.
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    failures = 0

    def fail(message: str) -> None:
        nonlocal failures
        failures += 1
        typer.echo(f"error: {' '.join(message.split())}", err=True)

    # Every file is read before the sandbox starts: unusable ones cost nothing, and are reported first.
    events = []
    for path in files:
        try:
            events += [(path, delivery) for delivery in read_alerts(path)]
        except AlertFileError as exc:
            fail(str(exc))
    if not events:
        raise typer.Exit(code=2)

    progress = Progress() if as_json else Progress(step=lambda m: console.print(f"  [cyan]>[/cyan] {m}"))
    with ExitStack() as stack:
        with nullcontext() if as_json else console.status("Starting the sandbox..."):
            sandbox = stack.enter_context(sandbox_for(decision, model=model))
        if not as_json:
            console.print(f"[bold]Sandbox ready[/bold] in {sandbox.startup_seconds:.1f} s")
        stack.enter_context(_incident_page(sandbox, progress) if open_page else nullcontext())
        for path, delivery in events:
            if not as_json:
                console.rule(f"[bold]{path.name}")
            try:
                run = run_alert(
                    sandbox, path, delivery.event, decision, progress, via_rules=delivery.via_rules
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
        raise typer.Exit(code=2)


def _incident_page(sandbox: Sandbox, progress: Progress) -> AbstractContextManager[object]:
    from tourniquet_cli.incident_page import served  # noqa: PLC0415

    return served(sandbox, progress, lambda line: console.print(f"[bold]{line}"))


normalize_cmd.register(app)
approve_cmd.register(app)
incident_cmd.register(app)
evaluate_cmd.register(app)
report_cmd.register(app)
