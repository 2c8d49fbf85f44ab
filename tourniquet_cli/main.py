"""The `tourniquet` command.

Each command lives in a module of its own and is registered here, one line each. The modules import their
heavy parts (the sandbox, moto, the CDK, boto3, the runtime package) only when their command runs, so
``tourniquet --help`` answers at once (``benchmarks/cli.py`` measures it).
"""

from __future__ import annotations

import typer

from tourniquet_cli import (
    approve_cmd,
    evaluate_cmd,
    incident_cmd,
    normalize_cmd,
    plan_cmd,
    playbooks_cmd,
    report_cmd,
    simulate_cmd,
)
from tourniquet_cli.options import OneLineErrors, VersionOption
from tourniquet_cli.simulate_cmd import EXAMPLE

__all__ = ["EXAMPLE", "app"]

# Plain help: typer's rich rendering would import markdown and rich (a quarter of a second) on every --help.
app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Tourniquet: contain AWS incidents in seconds.",
)


@app.callback()
def main(version: VersionOption = False) -> None:
    """Tourniquet: contain AWS incidents in seconds."""


simulate_cmd.register(app)
normalize_cmd.register(app)
plan_cmd.register(app)
playbooks_cmd.register(app)
approve_cmd.register(app)
incident_cmd.register(app)
evaluate_cmd.register(app)
report_cmd.register(app)
