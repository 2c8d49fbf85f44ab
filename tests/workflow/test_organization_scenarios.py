"""The workflow in an organization: a finding of a member account, in the second region, is contained there
through that account's member role, released there, and nothing is ever acted on in the hub's account; an
account outside the scope or excluded is alert-only, and one without the member stack fails plainly."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sandbox.calls import Call
from sandbox.core import Sandbox
from sandbox.organization import (
    EXCLUDED_ACCOUNT,
    HUB_ACCOUNT,
    MEMBER_ACCOUNTS,
    OUTSIDE_ACCOUNT,
    UNDEPLOYED_ACCOUNT,
)
from tests.helpers import load_event
from tests.workflow.runner import Runner
from tourniquet import store
from tourniquet_cli import render
from tourniquet_cli.alert_files import read_alerts
from tourniquet_cli.scenario import run_alert

pytestmark = pytest.mark.long

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guardduty-ec2-member-finding.json"
MEMBER = MEMBER_ACCOUNTS[0]
SECOND_REGION = "us-east-1"
_unique = itertools.count(1)


def _finding(account: str, region: str = SECOND_REGION) -> tuple[dict[str, Any], str]:
    """The GuardDuty EC2 fixture as a finding of ``account`` in ``region`` about a fresh instance id."""
    n = next(_unique)
    original = f"i-0org{n:013d}"
    text = json.dumps(load_event("guardduty_ec2_finding"))
    event: dict[str, Any] = json.loads(text.replace("123456789012", account).replace("eu-west-1", region))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = original
    event["detail"]["id"] = f"org-finding-{n}"
    return event, original


def _instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    return dict(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def _before_state(sandbox: Sandbox, account: str, region: str, instance_id: str) -> dict[str, Any]:
    """What containment changes and release must put back, field by field."""
    ec2 = sandbox.account_client("ec2", account, region)
    iam = sandbox.account_client("iam", account)
    instance = _instance(ec2, instance_id)
    profile = (instance.get("IamInstanceProfile") or {}).get("Arn")
    roles = (
        iam.get_instance_profile(InstanceProfileName=profile.rsplit("/", 1)[-1])["InstanceProfile"]["Roles"]
        if profile
        else []
    )
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
    return {
        "state": instance["State"]["Name"],
        "groups": {
            eni["NetworkInterfaceId"]: sorted(g["GroupId"] for g in eni["Groups"])
            for eni in instance["NetworkInterfaces"]
        },
        "profile": profile,
        "tags": sorted((t["Key"], t["Value"]) for t in instance.get("Tags", [])),
        "volume tags": {
            v["VolumeId"]: sorted((t["Key"], t["Value"]) for t in v.get("Tags", []))
            for v in ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
        },
        "termination protection": ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"],
        "shutdown behavior": ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"],
        "role policies": {
            role["RoleName"]: (
                sorted(iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]),
                sorted(
                    p["PolicyArn"]
                    for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
                ),
            )
            for role in roles
        },
    }


def _evidence(sandbox: Sandbox, account: str, region: str, incident_id: str) -> list[dict[str, Any]]:
    return list(
        sandbox.account_client("ec2", account, region).describe_snapshots(
            Filters=[{"Name": "tag:tourniquet:incident", "Values": [incident_id]}]
        )["Snapshots"]
    )


def _writes(calls: list[Call], account: str, services: tuple[str, ...] = ("ec2", "iam")) -> list[Call]:
    return [c for c in calls if c.account == account and c.service in services and c.writes]


def test_simulating_a_member_accounts_finding_contains_it_in_that_account_and_region_and_not_in_the_hub(
    sandbox: Sandbox,
):
    # A twin in the hub's account: same name, same tags, in both regions.
    twins = {
        region: sandbox.seeder(HUB_ACCOUNT, region).instance(
            tags={"Name": "orders-api-2", "Environment": "production", "Team": "payments"},
            seed_cloudtrail=False,
        )
        for region in sandbox.regions
    }
    twins_before = {
        region: _before_state(sandbox, HUB_ACCOUNT, region, twin.instance_id)
        for region, twin in twins.items()
    }
    [delivery] = read_alerts(EXAMPLE)

    # What `tourniquet simulate examples/guardduty-ec2-member-finding.json` runs.
    with sandbox.calls.recording() as calls:
        result = run_alert(sandbox, EXAMPLE, delivery.event, "approve", via_rules=delivery.via_rules).result
    incident_id = result["incident_id"]

    assert result["status"] == "contained"
    # The finding's account and region are the sandbox's: only its resources are mapped to look-alikes.
    assert MEMBER not in result["mapping"] and SECOND_REGION not in result["mapping"]
    instance_id = result["mapping"]["i-07c4e2a9b1d3f5e68"]
    contained = _instance(sandbox.account_client("ec2", MEMBER, SECOND_REGION), instance_id)
    assert contained["State"]["Name"] in ("stopping", "stopped")
    vpc = contained["VpcId"]
    assert all(
        [g["GroupName"] for g in eni["Groups"]] == [f"tourniquet-quarantine-{vpc}"]
        for eni in contained["NetworkInterfaces"]
    )
    assert len(_evidence(sandbox, MEMBER, SECOND_REGION, incident_id)) == len(
        contained["BlockDeviceMappings"]
    )
    # The hub's twins, and the hub's snapshots, are as they were.
    for region, twin in twins.items():
        assert _before_state(sandbox, HUB_ACCOUNT, region, twin.instance_id) == twins_before[region]
        assert _evidence(sandbox, HUB_ACCOUNT, region, incident_id) == []
    # Not one write to EC2 or IAM was made with the hub account's credentials; each write in the member
    # account came from its Contain role's session for this incident, and each EC2 call in the finding's
    # region.
    assert _writes(calls, HUB_ACCOUNT) == []
    tourniquet_writes = [
        c for c in _writes(calls, MEMBER) if "OrganizationAccountAccessRole" not in c.principal
    ]
    assert tourniquet_writes
    assert {(c.session, c.region if c.service == "ec2" else None) for c in tourniquet_writes} == {
        (f"arn:aws:sts::{MEMBER}:assumed-role/TourniquetContain/{incident_id}", SECOND_REGION),
        (f"arn:aws:sts::{MEMBER}:assumed-role/TourniquetContain/{incident_id}", None),
    }
    # Each member role was assumed by the hub role its trust policy names, through the region's STS.
    assert {(c.principal, c.role_arn, c.region) for c in calls if c.action == "AssumeRole"} == {
        (
            f"arn:aws:iam::123456789012:role/Tourniquet-{hub}",
            f"arn:aws:iam::{MEMBER}:role/Tourniquet{hub}",
            region,
        )
        for hub in ("Diagnose", "Contain")
        for region in (SECOND_REGION,)
    }
    # The timeline says where and as whom each action ran.
    actions = [e for e in result["timeline"] if e["kind"] == "action"]
    assert len(actions) == 8
    assert {json.dumps(e["acted_as"], sort_keys=True) for e in actions} == {
        json.dumps(
            {
                "account": MEMBER,
                "region": SECOND_REGION,
                "role": f"arn:aws:iam::{MEMBER}:role/TourniquetContain",
                "session": incident_id,
            },
            sort_keys=True,
        )
    }
    # The report says where and as whom the actions ran.
    console = Console(record=True, width=200)
    render.alert_report(console, result, None)
    assert f"acted in   {MEMBER} · {SECOND_REGION} as arn:aws:iam::{MEMBER}:role/TourniquetContain" in (
        console.export_text()
    )


def test_release_in_a_member_account_restores_the_before_state_field_for_field(
    runner: Runner, sandbox: Sandbox
):
    account = MEMBER_ACCOUNTS[1]
    event, mapping = sandbox.map_alert(_finding(account)[0])
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    before = _before_state(sandbox, account, SECOND_REGION, instance_id)
    result = runner.run(event, "approve").result
    incident_id = result["incident_id"]
    assert result["status"] == "contained"
    contained = _before_state(sandbox, account, SECOND_REGION, instance_id)
    assert {field for field in before if contained[field] != before[field]} >= {
        "state",
        "groups",
        "tags",
        "termination protection",
        "role policies",
    }

    card = sandbox.wait_for_card(incident_id)
    with sandbox.calls.recording() as calls:
        assert sandbox.click(card, "release")[0] == 200
        execution = sandbox.wait_for_execution(sandbox.release_execution_arn(incident_id), timeout=90)

    assert execution["status"] == "SUCCEEDED"
    after = _before_state(sandbox, account, SECOND_REGION, instance_id)
    assert {field: after[field] for field in before} == before
    assert store.get_incident(incident_id)["status"] == "released"
    releases = [e for e in store.timeline(incident_id) if e["kind"] == "release"]
    assert releases
    assert all(e["verified"] for e in releases)
    assert {e["acted_as"]["role"] for e in releases} == {f"arn:aws:iam::{account}:role/TourniquetRelease"}
    assert _writes(calls, HUB_ACCOUNT) == []
    assert {c.principal for c in _writes(calls, account)} == {
        f"arn:aws:iam::{account}:role/TourniquetRelease"
    }


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (OUTSIDE_ACCOUNT, "Account 333333333333 is outside the accounts Tourniquet acts in"),
        (
            EXCLUDED_ACCOUNT,
            "Account 444444444444 is never acted in (the log archive account: changed only by hand)",
        ),
    ],
    ids=["outside-the-scope", "excluded"],
)
def test_an_account_outside_the_scope_or_excluded_is_alert_only_with_the_reason(
    runner: Runner, sandbox: Sandbox, account: str, reason: str
):
    event, mapping = sandbox.map_alert(_finding(account)[0])
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    before = _before_state(sandbox, account, SECOND_REGION, instance_id)

    with sandbox.calls.recording() as calls:
        result = runner.run(event, "approve").result

    assert result["status"] == "alerted"
    assert result["actions"] == []
    output = json.loads(
        sandbox.client("stepfunctions").describe_execution(executionArn=result["execution"]["arn"])["output"]
    )
    assert output["plan"]["notes"] == [f"{reason}: alert only, nothing is changed."]
    assert _before_state(sandbox, account, SECOND_REGION, instance_id) == before
    # Nothing was read or changed there, and its member role was never even asked for.
    assert [c for c in calls if c.account == account] == []
    assert [c for c in calls if c.role_arn and f":{account}:" in c.role_arn] == []


@pytest.fixture
def wrong_external_id(sandbox: Sandbox) -> Iterator[None]:
    """The Diagnose and Contain functions present an ExternalId the member roles do not expect."""
    lambda_client = sandbox.client("lambda")
    saved = {}
    for handler in ("tourniquet.diagnostics.handler.diagnose", "tourniquet.containment.handler.contain"):
        name = sandbox.deployment.function_name(handler)
        variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        saved[name] = dict(variables)
        lambda_client.update_function_configuration(
            FunctionName=name,
            Environment={"Variables": {**variables, "EXTERNAL_ID": "not-the-deployments-id"}},
        )
    try:
        yield
    finally:
        for name, variables in saved.items():
            lambda_client.update_function_configuration(
                FunctionName=name, Environment={"Variables": variables}
            )


@pytest.mark.parametrize(
    ("account", "fixture"),
    [(UNDEPLOYED_ACCOUNT, None), (MEMBER, "wrong_external_id")],
    ids=["no-member-stack", "wrong-external-id"],
)
def test_a_member_role_that_refuses_the_hub_fails_the_incident_with_the_plain_reason(
    runner: Runner, sandbox: Sandbox, request: pytest.FixtureRequest, account: str, fixture: str | None
):
    if fixture:
        request.getfixturevalue(fixture)
    event, mapping = sandbox.map_alert(_finding(account)[0])
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    before = _before_state(sandbox, account, SECOND_REGION, instance_id)

    with sandbox.calls.recording() as calls:
        result = runner.run(event, "approve").result

    reason = (
        f"Tourniquet's member role TourniquetContain is missing in account {account} or does not trust this "
        "deployment: deploy the member stack there"
    )
    assert result["status"] == "failed"
    incident = store.get_incident(result["incident_id"])
    assert incident is not None
    failures = [e for e in store.timeline(result["incident_id"]) if e["kind"] == "failure"]
    assert [(e["error"], e["reason"]) for e in failures] == [("MemberRoleUnavailable", reason)]
    [message] = [m for m in sandbox.slack.messages() if result["incident_id"] in m.text and reason in m.text]
    shown = message.text + json.dumps(message.blocks)
    assert "Traceback" not in shown and ".py" not in shown
    assert _before_state(sandbox, account, SECOND_REGION, instance_id) == before
    refused = {c.role_arn for c in calls if c.action == "AssumeRole"}
    assert f"arn:aws:iam::{account}:role/TourniquetContain" in refused
    assert [
        c for c in calls if c.account == account and c.principal.startswith(f"arn:aws:iam::{account}:role/T")
    ] == []
