"""The sandbox's record of AWS calls: which service and action, in which account and region, by whom."""

from __future__ import annotations

from sandbox.core import Sandbox

MEMBER = "111111111111"


def test_a_recording_holds_each_call_made_while_it_is_open_with_its_account_and_signer(sandbox: Sandbox):
    member_ec2 = sandbox.account_client("ec2", MEMBER, "us-east-1")
    vpc_id = sandbox.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]  # before: not recorded

    with sandbox.calls.recording() as outer:
        sandbox.client("ec2").create_tags(Resources=[vpc_id], Tags=[{"Key": "k", "Value": "v"}])
        with sandbox.calls.recording() as inner:
            member_ec2.describe_vpcs()
    sandbox.client("ec2").describe_vpcs()  # after: not recorded

    # The sandbox's own event bridge polls its queues meanwhile: only this test's EC2 calls are looked at.
    outer = [c for c in outer if c.service == "ec2"]
    inner = [c for c in inner if c.service == "ec2"]
    assert [(c.service, c.action, c.account, c.region, c.writes) for c in outer] == [
        ("ec2", "CreateTags", "123456789012", "eu-west-1", True),
        ("ec2", "DescribeVpcs", MEMBER, "us-east-1", False),
    ]
    assert inner == outer[1:]
    assert outer[0].principal == "arn:aws:iam::123456789012:root"
    assert inner[0].principal == f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
    assert inner[0].session.startswith(f"arn:aws:sts::{MEMBER}:assumed-role/OrganizationAccountAccessRole/")
