"""`tourniquet incident show` and `tourniquet release` against a table in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from botocore.stub import Stubber
from typer.testing import CliRunner

from tests.helpers import REGION, TABLE, contain_request, launch_instance, moto_client, open_incident
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.containment.handler import contain
from tourniquet.state import ReleaseInput
from tourniquet_cli import incident_cmd

INCIDENT = "inc-3c4d5e6f7a8b"


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into one command
    incident_cmd.register(app)
    return app


@pytest.fixture
def contained(aws: None) -> Any:
    open_incident(INCIDENT)
    lab = launch_instance()
    target = {"type": "AwsEc2Instance", "id": lab.instance_id, "account": "123456789012", "region": REGION}
    for action in ("tag_instance", "isolate_network"):
        contain(contain_request([action], target, incident_id=INCIDENT), None)
    return lab


def run(cli: typer.Typer, *args: str, **env: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_incident_show_prints_each_action_with_its_proof(cli, contained):
    result = run(cli, "incident", "show", INCIDENT, "--table", TABLE)

    assert result.exit_code == 0, result.output
    assert f"Incident {INCIDENT}" in result.output
    assert "action=tag_instance" in result.output and "action=isolate_network" in result.output
    assert "action_step" in result.output
    assert "verified requests=request-id" in result.output
    assert contained.instance_id in result.output


def test_incident_show_json_is_the_incident_and_its_timeline(cli, contained):
    result = run(cli, "incident", "show", INCIDENT, "--json", TOURNIQUET_TABLE=TABLE)

    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert shown["incident"]["incident_id"] == INCIDENT
    assert [e["kind"] for e in shown["timeline"]] == [e["kind"] for e in store.timeline(INCIDENT)]
    assert all("pk" not in e for e in shown["timeline"])


def test_incident_show_of_an_unknown_incident_says_so(cli, aws):
    result = CliRunner().invoke(cli, ["incident", "show", "inc-missing", "--table", TABLE])

    assert result.exit_code == 2
    assert "inc-missing does not exist" in result.output


def test_a_table_must_be_named(cli, aws, monkeypatch):
    monkeypatch.delenv("TOURNIQUET_TABLE", raising=False)

    result = CliRunner().invoke(cli, ["incident", "show", INCIDENT])

    assert result.exit_code == 2
    assert "--table" in result.output


WORKFLOW = "arn:aws:states:eu-west-1:123456789012:stateMachine:Tourniquet-ReleaseIncident"


@pytest.fixture
def release_workflow(aws: None) -> Iterator[Stubber]:
    """The release workflow, stubbed: what the CLI starts and what the finished run answers."""
    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        yield stub
        stub.assert_no_pending_responses()


def finished(stub: Stubber, status: str, output: dict[str, Any] | None = None) -> None:
    execution = f"{WORKFLOW.replace(':stateMachine:', ':execution:')}:cli-run"
    stub.add_response("start_execution", {"executionArn": execution, "startDate": datetime.now(UTC)})
    described = {
        "executionArn": execution,
        "stateMachineArn": WORKFLOW,
        "status": status,
        "startDate": datetime.now(UTC),
        **({"output": json.dumps(output)} if output is not None else {}),
    }
    stub.add_response("describe_execution", described)


def test_release_starts_the_release_workflow_as_the_caller_and_prints_what_it_restored(cli, release_workflow):
    open_incident(INCIDENT)
    restorations = [{"action": "isolate_network", "target": "i-0a1b2c3d4e5f67890", "status": "done"}]
    finished(
        release_workflow,
        "SUCCEEDED",
        {"release": {"incident_id": INCIDENT, "status": "released", "restorations": restorations}},
    )

    result = run(cli, "release", INCIDENT, "--table", TABLE, "--workflow", WORKFLOW, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["restorations"][0]["action"] == "isolate_network"
    started = release_workflow._queue
    assert not started


def test_release_sends_the_caller_and_the_dry_run_to_the_workflow(cli, aws, monkeypatch):
    open_incident(INCIDENT)
    captured: list[ReleaseInput] = []

    def run_release(workflow: str, given: ReleaseInput) -> dict[str, Any]:
        captured.append(given)
        planned = {"release": {"incident_id": INCIDENT, "status": "planned"}}
        return {"status": "SUCCEEDED", "output": json.dumps(planned)}

    monkeypatch.setattr(incident_cmd, "_run_release", run_release)

    result = run(
        cli, "release", INCIDENT, "--table", TABLE, "--dry-run", TOURNIQUET_RELEASE_WORKFLOW=WORKFLOW
    )

    assert result.exit_code == 0, result.output
    assert "PLANNED" in result.output
    (given,) = captured
    assert given.as_state() == {
        "incident": {
            "id": INCIDENT,
            "duplicate": False,
            "duplicate_count": 0,
            "dedup_key": None,
            "folded": False,
            "contain": False,
            "correlation_key": None,
        },
        "actor": moto_client("sts").get_caller_identity()["Arn"],
        "approval_id": None,
        "approvers": [],
        "dry_run": True,
    }


def test_a_failed_release_exits_1_and_points_to_the_timeline(cli, release_workflow):
    open_incident(INCIDENT)
    finished(release_workflow, "FAILED")
    release_workflow.add_response(
        "get_execution_history",
        {
            "events": [
                {
                    "timestamp": datetime.now(UTC),
                    "type": "FailStateEntered",
                    "id": 9,
                    "stateEnteredEventDetails": {
                        "name": "ReleaseFailed",
                        "input": json.dumps(
                            {
                                "error": {
                                    "Error": "ReleaseFailed",
                                    "Cause": json.dumps({"errorMessage": "1 of 2 failed"}),
                                }
                            }
                        ),
                    },
                }
            ]
        },
    )

    result = run(cli, "release", INCIDENT, "--table", TABLE, "--workflow", WORKFLOW)

    assert result.exit_code == 1
    assert "release failed: 1 of 2 failed" in result.output
    assert f"tourniquet incident show {INCIDENT}" in result.output


def test_release_needs_the_workflow_named(cli, aws, monkeypatch):
    monkeypatch.delenv("TOURNIQUET_RELEASE_WORKFLOW", raising=False)

    result = CliRunner().invoke(cli, ["release", INCIDENT, "--table", TABLE])

    assert result.exit_code == 2
    assert "--workflow" in result.output


def test_release_of_an_unknown_incident_exits_with_a_clear_error(cli, aws):
    result = CliRunner().invoke(cli, ["release", "inc-missing", "--table", TABLE, "--workflow", WORKFLOW])

    assert result.exit_code == 2
    assert "inc-missing does not exist" in result.output


def test_a_missing_table_is_a_clear_error_not_a_traceback(cli, aws):
    result = CliRunner().invoke(cli, ["incident", "show", INCIDENT, "--table", "no-such-table"])

    assert result.exit_code == 2
    assert "ResourceNotFoundException" in result.output
