"""`tourniquet incident show` and `tourniquet release` against a table in moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.handlers.conftest import REGION, TABLE
from tests.handlers.test_release import open_incident
from tests.helpers import launch_instance, moto_client
from tourniquet import store
from tourniquet.containment.handler import contain
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
        contain({"action": action, "mode": "auto", "incident_id": INCIDENT, "target": target}, None)
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


def test_release_restores_and_records_the_caller_as_actor(cli, contained):
    ec2 = moto_client("ec2")

    result = run(cli, "release", INCIDENT, "--table", TABLE, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "released"
    interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=list(contained.eni_ids))[
        "NetworkInterfaces"
    ]
    assert {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni["Groups"]] for eni in interfaces} == {
        eni: [contained.group_id] for eni in contained.eni_ids
    }
    actors = {e["actor"] for e in store.timeline(INCIDENT) if e["kind"] == "release"}
    assert actors == {moto_client("sts").get_caller_identity()["Arn"]}


def test_release_dry_run_prints_the_plan_and_changes_nothing(cli, contained):
    result = run(cli, "release", INCIDENT, "--table", TABLE, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "PLANNED" in result.output
    assert "ModifyNetworkInterfaceAttribute" in result.output
    assert store.get_incident(INCIDENT)["status"] == "open"


def test_release_of_an_unknown_incident_exits_with_a_clear_error(cli, aws):
    result = CliRunner().invoke(cli, ["release", "inc-missing", "--table", TABLE])

    assert result.exit_code == 2
    assert "inc-missing does not exist" in result.output


def test_a_missing_table_is_a_clear_error_not_a_traceback(cli, aws):
    result = CliRunner().invoke(cli, ["incident", "show", INCIDENT, "--table", "no-such-table"])

    assert result.exit_code == 2
    assert "ResourceNotFoundException" in result.output
