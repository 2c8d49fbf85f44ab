"""The sandbox is an organization: its accounts and OUs, the member stack in each account, trust enforced on
AssumeRole as IAM enforces it, functions that run as their own roles, and look-alikes in the account and
region a finding names."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.core import Sandbox
from sandbox.organization import (
    EXCLUDED_ACCOUNT,
    HUB_ACCOUNT,
    MEMBER_ACCOUNTS,
    OUTSIDE_ACCOUNT,
    PLAYGROUND_OU,
    UNDEPLOYED_ACCOUNT,
    WORKLOADS_OU,
)
from tests.helpers import load_event

CONTAIN = "tourniquet.containment.handler.contain"
DIAGNOSE = "tourniquet.diagnostics.handler.diagnose"
MEMBER = MEMBER_ACCOUNTS[0]


def _member_event(account: str, region: str, instance_id: str) -> dict[str, Any]:
    """The GuardDuty EC2 fixture as a finding of ``account`` in ``region``, about ``instance_id``."""
    text = json.dumps(load_event("guardduty_ec2_finding"))
    event: dict[str, Any] = json.loads(text.replace("123456789012", account).replace("eu-west-1", region))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    event["detail"]["id"] = f"finding-{instance_id}"
    return event


def _sts_as(sandbox: Sandbox, handler: str | None, region: str = "eu-west-1") -> Any:
    """An STS client signed as the deployed function with ``handler`` (the sandbox's own without one)."""
    credentials = sandbox.function_credentials(handler) if handler else {}
    return boto3.session.Session().client(
        "sts", endpoint_url=sandbox.endpoint_url, region_name=region, **credentials
    )


def _assume(sts: Any, account: str, role: str = "TourniquetContain", **arguments: Any) -> dict[str, Any]:
    return dict(
        sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="inc-trust-test", **arguments
        )
    )


def test_the_accounts_sit_in_the_organizations_units(sandbox: Sandbox):
    organizations = sandbox.client("organizations")
    organization = sandbox.organization
    assert organization is not None

    listed = {account["Id"] for account in organizations.list_accounts()["Accounts"]}
    parents = {
        account: organizations.list_parents(ChildId=account)["Parents"][0]["Id"]
        for account in organization.account_ids
    }

    assert listed == set(organization.account_ids)
    assert parents[HUB_ACCOUNT] == organization.root_id
    assert parents[OUTSIDE_ACCOUNT] == organization.ous[PLAYGROUND_OU]
    assert {parents[a] for a in (*MEMBER_ACCOUNTS, EXCLUDED_ACCOUNT, UNDEPLOYED_ACCOUNT)} == {
        organization.ous[WORKLOADS_OU]
    }


def test_the_functions_act_in_the_organizations_accounts_and_regions(sandbox: Sandbox):
    organization = sandbox.organization
    assert organization is not None
    environment = sandbox.deployment.function(CONTAIN).environment

    assert environment["SCOPE_ACCOUNTS"] == HUB_ACCOUNT
    assert environment["SCOPE_OUS"] == organization.ous[WORKLOADS_OU]
    assert environment["SCOPE_REGIONS"] == "eu-west-1,us-east-1"
    assert set(json.loads(environment["EXCLUDED_ACCOUNTS"])) == {EXCLUDED_ACCOUNT}


def test_every_account_but_the_new_one_has_the_member_stack_trusting_the_hubs_roles(sandbox: Sandbox):
    deployed = {}
    for account in sandbox.organization.account_ids if sandbox.organization else ():
        iam = sandbox.account_client("iam", account)
        try:
            role = iam.get_role(RoleName="TourniquetContain")["Role"]
        except iam.exceptions.NoSuchEntityException:
            deployed[account] = None
            continue
        [principal] = {s["Principal"]["AWS"] for s in role["AssumeRolePolicyDocument"]["Statement"]}
        policies = iam.list_policies(Scope="Local", PathPrefix="/tourniquet/")["Policies"]
        deployed[account] = (principal, [p["Arn"] for p in policies])

    assert deployed.pop(UNDEPLOYED_ACCOUNT) is None
    assert deployed == {
        account: (
            "arn:aws:iam::123456789012:role/Tourniquet-Contain",
            [f"arn:aws:iam::{account}:policy/tourniquet/TourniquetDenyAll"],
        )
        for account in deployed
    }
    assert set(deployed) == {HUB_ACCOUNT, *MEMBER_ACCOUNTS, OUTSIDE_ACCOUNT, EXCLUDED_ACCOUNT}


def test_the_hub_role_named_by_a_member_role_assumes_it_with_the_external_id(sandbox: Sandbox):
    external_id = sandbox.deployment.function(CONTAIN).environment["EXTERNAL_ID"]

    assumed = _assume(
        _sts_as(sandbox, CONTAIN, "us-east-1"),
        MEMBER,
        ExternalId=external_id,
        SourceIdentity="inc-trust-test",
        Tags=[{"Key": "tourniquet:incident", "Value": "inc-trust-test"}],
    )

    assert assumed["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{MEMBER}:assumed-role/TourniquetContain/inc-trust-test"
    )


@pytest.mark.parametrize(
    ("caller", "account", "external_id", "signer"),
    [
        (CONTAIN, MEMBER, "not-the-deployments-id", "assumed-role/Tourniquet-Contain/"),
        (CONTAIN, MEMBER, None, "assumed-role/Tourniquet-Contain/"),
        # The Diagnose function's role is trusted by the Diagnose member role only.
        (DIAGNOSE, MEMBER, "deployed", "assumed-role/Tourniquet-Diagnose/"),
        # The hub account's own credentials are not the hub's role.
        (None, MEMBER, "deployed", ":root"),
        # No member stack: no role to assume.
        (CONTAIN, UNDEPLOYED_ACCOUNT, "deployed", "assumed-role/Tourniquet-Contain/"),
    ],
    ids=["wrong-external-id", "no-external-id", "another-hub-role", "hub-root", "no-member-stack"],
)
def test_assume_role_is_refused_unless_the_trust_policy_allows_the_caller(
    sandbox: Sandbox, caller: str | None, account: str, external_id: str | None, signer: str
):
    arguments = {}
    if external_id is not None:
        deployed = sandbox.deployment.function(CONTAIN).environment["EXTERNAL_ID"]
        arguments["ExternalId"] = deployed if external_id == "deployed" else external_id

    with pytest.raises(ClientError) as refused:
        _assume(_sts_as(sandbox, caller), account, **arguments)

    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert signer in error["Message"]
    role_arn = f"arn:aws:iam::{account}:role/TourniquetContain"
    assert error["Message"].endswith(f"is not authorized to perform: sts:AssumeRole on resource: {role_arn}")


def test_session_tags_need_the_trust_policys_tag_session_grant(sandbox: Sandbox):
    iam = sandbox.account_client("iam", MEMBER)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/Tourniquet-Contain"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="UntaggableForTests", AssumeRolePolicyDocument=json.dumps(trust))
    sts = _sts_as(sandbox, CONTAIN)

    untagged = _assume(sts, MEMBER, "UntaggableForTests")
    with pytest.raises(ClientError, match="sts:TagSession"):
        _assume(sts, MEMBER, "UntaggableForTests", Tags=[{"Key": "k", "Value": "v"}])

    assert untagged["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{MEMBER}:assumed-role/")


def test_a_function_runs_as_a_session_of_its_own_role(sandbox: Sandbox):
    identity = _sts_as(sandbox, CONTAIN).get_caller_identity()
    function = sandbox.deployment.function(CONTAIN)

    assert identity["Account"] == HUB_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/Tourniquet-Contain/{function.name}"


def test_a_member_accounts_finding_gets_its_look_alike_in_that_account_and_region(sandbox: Sandbox):
    account = MEMBER_ACCOUNTS[1]
    event, mapping = sandbox.map_alert(_member_event(account, "us-east-1", "i-0aaaa00000000f001"))
    instance_id = mapping["i-0aaaa00000000f001"]

    found = sandbox.account_client("ec2", account, "us-east-1").describe_instances(InstanceIds=[instance_id])

    assert found["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"] == "us-east-1a"
    assert (event["detail"]["accountId"], event["detail"]["region"]) == (account, "us-east-1")
    # Neither the hub's account nor the account's other region has it.
    for client in (sandbox.client("ec2"), sandbox.account_client("ec2", account, "eu-west-1")):
        with pytest.raises(ClientError, match=r"InvalidInstanceID\.NotFound"):
            client.describe_instances(InstanceIds=[instance_id])
    # Its CloudTrail history is that account's and region's.
    lookup = [{"AttributeKey": "ResourceName", "AttributeValue": instance_id}]
    here = sandbox.account_client("cloudtrail", account, "us-east-1").lookup_events(LookupAttributes=lookup)
    hub = sandbox.client("cloudtrail").lookup_events(LookupAttributes=lookup)
    assert here["Events"]
    assert {json.loads(e["CloudTrailEvent"])["recipientAccountId"] for e in here["Events"]} == {account}
    assert hub["Events"] == []


def test_a_finding_from_an_unknown_account_and_region_is_placed_in_a_member_account(sandbox: Sandbox):
    first, first_mapping = sandbox.map_alert(
        _member_event("246813579024", "ap-south-1", "i-0aaaa00000000f002")
    )
    again, again_mapping = sandbox.map_alert(
        _member_event("246813579024", "ap-south-1", "i-0aaaa00000000f003")
    )
    other, other_mapping = sandbox.map_alert(
        _member_event("135792468013", "ap-south-1", "i-0aaaa00000000f004")
    )

    placed = first_mapping["246813579024"]
    assert placed in MEMBER_ACCOUNTS
    assert first_mapping["ap-south-1"] == "eu-west-1"
    assert again_mapping["246813579024"] == placed
    assert other_mapping["135792468013"] in set(MEMBER_ACCOUNTS) - {placed}
    assert (first["detail"]["accountId"], first["detail"]["region"]) == (placed, "eu-west-1")
    assert f"arn:aws:iam::{placed}:instance-profile/" in json.dumps(first)
    assert "246813579024" not in json.dumps(first) and "ap-south-1" not in json.dumps(first)
    instance_id = first_mapping["i-0aaaa00000000f002"]
    assert sandbox.account_client("ec2", placed).describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert other["detail"]["accountId"] == other_mapping["135792468013"]
    assert again["detail"]["accountId"] == placed
