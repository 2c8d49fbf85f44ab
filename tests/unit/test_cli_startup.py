"""The command starts light: `--help` imports neither the sandbox nor AWS's SDK nor the runtime package
(benchmarks/cli.py measures the time), shows the choices, and `--version` answers."""

import json
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from tourniquet_cli.main import app

# (typer itself may load pydantic to convert some parameters' values.)
HEAVY = ("boto3", "botocore", "moto", "sandbox", "aws_cdk", "tourniquet", "stacks", "rich", "yaml")
PROBE = """
import json, sys
from tourniquet_cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], ["incident", "list", "--help"]])
def test_help_imports_nothing_heavy(args):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True, timeout=60
    )

    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "typer" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_version_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])

    assert (result.exit_code, result.output) == (0, f"tourniquet {version('tourniquet')}\n")


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["demo", "--help"], "approve|deny|timeout"),
        (
            ["incident", "list", "--help"],
            "open|contained|planned|alerted|denied|expired|failed|resolved|released",
        ),
    ],
)
def test_help_shows_the_choices(args, choices):
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0
    assert choices in result.output


def test_a_choice_not_offered_is_refused_in_one_line_with_exit_code_2():
    result = CliRunner().invoke(app, ["demo", "--decision", "maybe"])

    assert result.exit_code == 2
    assert "'maybe' is not one of 'approve', 'deny', 'timeout'" in result.output


@pytest.mark.parametrize(
    "command", [["approve", "inc-1"], ["release", "inc-1"], ["incident", "show", "inc-1"]]
)
def test_every_command_that_reaches_aws_takes_region_and_profile(command):
    result = CliRunner().invoke(app, [*command, "--help"])

    assert "--region" in result.output and "--profile" in result.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["plan"], "error: Missing argument 'files'. (see tourniquet plan --help)"),
        (["nosuch"], "error: No such command 'nosuch'. (see tourniquet --help)"),
        (
            ["incident", "list", "--status", "lost"],
            "error: Invalid value for '--status': 'lost' is not one of 'open', 'contained', 'planned', "
            "'alerted', 'denied', 'expired', 'failed', 'resolved', 'released'. "
            "(see tourniquet incident list --help)",
        ),
    ],
)
def test_a_usage_error_is_one_line_with_exit_code_2(args, line):
    result = CliRunner().invoke(app, args, prog_name="tourniquet")

    assert result.exit_code == 2
    assert result.output.splitlines() == [line]


def test_statuses_offered_are_every_status_an_incident_takes():
    from typing import get_args  # noqa: PLC0415

    from tourniquet.state import OutcomeStatus  # noqa: PLC0415
    from tourniquet_cli.incident_cmd import Status  # noqa: PLC0415

    assert {status.value for status in Status} == {"open", "resolved", "released", *get_args(OutcomeStatus)}
