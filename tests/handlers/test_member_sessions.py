"""How the hub reaches a target's account: one assumed session per account, role and incident, named for the
incident, through the region's own STS, with the ExternalId; a protection is lifted only in a session of its
own."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.client import BaseClient

from tests.helpers import (
    MEMBER_ACCOUNT,
    REGION,
    Recorded,
    contain_one,
    contain_request,
    launch_instance,
    member_account_client,
    moto_client,
    recording_calls,
)
from tourniquet import aws as tourniquet_aws
from tourniquet import errors
from tourniquet.containment.handler import contain

INCIDENT = "inc-7a8b9c0d1e2f"
AUTOMATIC = ["tag_instance", "preserve_evidence", "snapshot_volumes", "isolate_network"]


def event(
    instance_id: str,
    action: str,
    *,
    account: str = "123456789012",
    region: str = REGION,
    mode: str = "auto",
    incident_id: str = INCIDENT,
) -> dict[str, Any]:
    target = {"type": "AwsEc2Instance", "id": instance_id, "account": account, "region": region}
    return contain_request([action], target, incident_id=incident_id, mode=mode)


@pytest.fixture
def calls(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[Recorded]:
    recorded: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(recorded))
    return recorded


def assumed(calls: list[Recorded]) -> list[dict[str, Any]]:
    return [params for service, operation, params in calls if (service, operation) == ("sts", "AssumeRole")]


def test_the_member_role_is_assumed_once_per_incident_named_for_it_with_the_external_id(calls):
    lab = launch_instance()

    for action in AUTOMATIC:
        assert contain_one(event(lab.instance_id, action))["verified"] is True

    (assume,) = assumed(calls)
    assert assume == {
        "RoleArn": "arn:aws:iam::123456789012:role/TourniquetMember",
        "RoleSessionName": INCIDENT,
        "SourceIdentity": INCIDENT,
        "Tags": [
            {"Key": "tourniquet:incident", "Value": INCIDENT},
            {"Key": "tourniquet:purpose", "Value": "contain"},
        ],
        "DurationSeconds": 3600,
        "ExternalId": "tourniquet-tests",
    }


def test_the_session_comes_from_the_targets_own_regional_sts(aws, monkeypatch):
    regions: list[str] = []
    original = BaseClient._make_api_call

    def note(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "AssumeRole":
            regions.append(client.meta.region_name)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", note)
    ec2 = moto_client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    assert contain_one(event(instance, "tag_instance", region="us-east-1"))["verified"] is True

    assert regions == ["us-east-1"]


def test_each_incident_and_each_account_gets_its_own_session(calls, monkeypatch):
    monkeypatch.setenv("SCOPE_ACCOUNTS", f"123456789012,{MEMBER_ACCOUNT}")
    hub_lab = launch_instance()
    member_ec2 = member_account_client("ec2")
    image = member_ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    member_instance = member_ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    calls.clear()

    contain_one(event(hub_lab.instance_id, "tag_instance"))
    contain_one(event(hub_lab.instance_id, "tag_instance", incident_id="inc-000000000002"))
    contain_one(event(member_instance, "tag_instance", account=MEMBER_ACCOUNT))
    contain_one(event(member_instance, "preserve_evidence", account=MEMBER_ACCOUNT))

    assert [(a["RoleArn"], a["RoleSessionName"]) for a in assumed(calls)] == [
        ("arn:aws:iam::123456789012:role/TourniquetMember", INCIDENT),
        ("arn:aws:iam::123456789012:role/TourniquetMember", "inc-000000000002"),
        (f"arn:aws:iam::{MEMBER_ACCOUNT}:role/TourniquetMember", INCIDENT),
    ]


def test_a_protection_is_lifted_only_in_a_session_tagged_for_it(aws, monkeypatch):
    lab = launch_instance(tags={"tourniquet:protected": "true"})
    signed: list[tuple[str, str]] = []
    sessions: dict[str, list[dict[str, str]]] = {}
    original = BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        response = original(client, operation, params)
        signed.append((operation, client._request_signer._credentials.access_key))
        if operation == "AssumeRole":
            sessions[response["Credentials"]["AccessKeyId"]] = params["Tags"]
        return response

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    step = event(lab.instance_id, "lift_protection", mode="approval")
    step["plan"]["approval"] = ["lift_protection", "isolate_network"]

    contain(step, None)

    lift = {"Key": "tourniquet:action", "Value": "lift_protection"}
    [untag] = [key for operation, key in signed if operation == "DeleteTags"]
    swaps = {key for operation, key in signed if operation == "ModifyNetworkInterfaceAttribute"}
    assert lift in sessions[untag]
    assert swaps and all(lift not in sessions[key] for key in swaps)


def test_member_services_are_refused_outside_a_targets_scope(aws):
    with pytest.raises(errors.OutOfScope, match="only reached in a target's own account"):
        tourniquet_aws.client("ec2")
