"""The sandbox is an organization: its accounts and OUs, the member stack in each account, and look-alikes in
the account and region a finding names."""

from __future__ import annotations

import json
from typing import Any

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
MEMBER = MEMBER_ACCOUNTS[0]


def _member_event(account: str, region: str, instance_id: str) -> dict[str, Any]:
    """The GuardDuty EC2 fixture as a finding of ``account`` in ``region``, about ``instance_id``."""
    text = json.dumps(load_event("guardduty_ec2_finding"))
    event: dict[str, Any] = json.loads(text.replace("123456789012", account).replace("eu-west-1", region))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    event["detail"]["id"] = f"finding-{instance_id}"
    return event


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
