"""Look-alike resources for an alert, with ids rewritten and CloudTrail history seeded."""

from __future__ import annotations

import pytest

from sandbox.core import Sandbox
from sandbox.seed import FIXED_AMI, UNUSUAL_IP
from tests.helpers import SandboxPool, load_event
from tests.sandbox.template import template

ORIGINAL = "i-0a1b2c3d4e5f67890"


@pytest.fixture(scope="module")
def sandbox(sandbox_pool: SandboxPool) -> Sandbox:
    """A sandbox of its own: a look-alike network keeps the addresses of the first alert that named it, and
    the other modules' alerts (a generated one among them) may name this finding's VPC."""
    sandbox_pool.stop()
    return sandbox_pool.get("test-template", lambda: Sandbox(template=template()))


@pytest.fixture(scope="module")
def mapped(sandbox):
    return sandbox.map_alert(load_event("guardduty_ec2_finding"))


def test_the_alert_is_rewritten_to_name_look_alikes(mapped):
    event, mapping = mapped
    details = event["detail"]["resource"]["instanceDetails"]
    [interface] = details["networkInterfaces"]

    assert details["instanceId"] == mapping[ORIGINAL] != ORIGINAL
    assert interface["networkInterfaceId"] == mapping["eni-0f1e2d3c4b5a69788"]
    assert interface["vpcId"] == mapping["vpc-0fedcba9876543210"]
    assert interface["subnetId"] == mapping["subnet-0a9b8c7d6e5f43210"]
    assert interface["securityGroups"][0]["groupId"] == mapping["sg-0123456789abcdef0"]
    assert mapping[ORIGINAL] in event["detail"]["title"]
    assert ORIGINAL not in str(event)


def test_the_look_alike_instance_has_volumes_interfaces_profile_and_tags(sandbox, mapped):
    _, mapping = mapped
    ec2 = sandbox.client("ec2")

    instance = ec2.describe_instances(InstanceIds=[mapping[ORIGINAL]])["Reservations"][0]["Instances"][0]
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [mapping[ORIGINAL]]}]
    )

    assert instance["ImageId"] == FIXED_AMI
    assert instance["InstanceType"] == "m5.large"
    assert instance["PrivateIpAddress"] == "10.0.1.23"
    assert {tag["Key"]: tag["Value"] for tag in instance["Tags"]} == {
        "Name": "web-app-1",
        "Environment": "production",
    }
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/web-app-profile")
    assert [eni["NetworkInterfaceId"] for eni in instance["NetworkInterfaces"]] == [
        mapping["eni-0f1e2d3c4b5a69788"]
    ]
    assert len(volumes["Volumes"]) == 3
    group = ec2.describe_security_groups(GroupIds=[mapping["sg-0123456789abcdef0"]])["SecurityGroups"][0]
    assert group["GroupName"] == "web-app"
    assert {rule["FromPort"] for rule in group["IpPermissions"]} == {22, 443}


def test_a_resent_finding_maps_to_the_same_look_alike(sandbox, mapped):
    event, mapping = mapped

    again, same = sandbox.map_alert(load_event("guardduty_ec2_finding"))

    assert same == mapping
    assert again == event
    assert sandbox.seed.seeded(ORIGINAL).instance_id == mapping[ORIGINAL]


def test_cloudtrail_history_is_seeded_for_the_instance_and_its_role(sandbox, mapped):
    _, mapping = mapped
    cloudtrail = sandbox.client("cloudtrail")

    by_instance = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": mapping[ORIGINAL]}]
    )["Events"]
    by_session = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": mapping[ORIGINAL]}]
    )["Events"]

    assert by_instance[-1]["EventName"] == "RunInstances"
    assert by_instance[-1]["Username"] == "deploy-pipeline"
    assert [e["EventName"] for e in by_session] == [
        "RunInstances",
        "ListAttachedRolePolicies",
        "ListBuckets",
        "GetCallerIdentity",
    ]
    assert all(UNUSUAL_IP in e["CloudTrailEvent"] for e in by_session)


def test_more_volumes_and_interfaces_can_be_asked_for(sandbox):
    seeded = sandbox.seed.instance(volumes=4, network_interfaces=3, tags={"Name": "db-1"})
    ec2 = sandbox.client("ec2")

    instance = ec2.describe_instances(InstanceIds=[seeded.instance_id])["Reservations"][0]["Instances"][0]

    assert len(seeded.volume_ids) == 4
    assert sorted(eni["Attachment"]["DeviceIndex"] for eni in instance["NetworkInterfaces"]) == [0, 1, 2]
    assert list(seeded.network_interface_ids) == [
        eni["NetworkInterfaceId"]
        for eni in sorted(instance["NetworkInterfaces"], key=lambda e: e["Attachment"]["DeviceIndex"])
    ]


def test_replacing_an_interfaces_groups_shows_only_the_new_groups(sandbox):
    seeded = sandbox.seed.instance(tags={"Name": "isolate-me"})
    ec2 = sandbox.client("ec2")
    quarantine = ec2.create_security_group(GroupName="quarantine", Description="q", VpcId=seeded.vpc_id)[
        "GroupId"
    ]
    [primary] = seeded.network_interface_ids[:1]

    ec2.modify_network_interface_attribute(NetworkInterfaceId=primary, Groups=[quarantine])

    interface = ec2.describe_network_interfaces(NetworkInterfaceIds=[primary])["NetworkInterfaces"][0]
    assert [group["GroupId"] for group in interface["Groups"]] == [quarantine]


def test_two_instances_named_with_one_private_address_both_get_look_alikes(sandbox, mapped):
    _, first = mapped
    other = load_event("guardduty_ec2_finding")
    other["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-0ffffffffffffffff"

    _, second = sandbox.map_alert(other)

    assert second["i-0ffffffffffffffff"] != first[ORIGINAL]
    addresses = [
        i["PrivateIpAddress"]
        for r in sandbox.client("ec2").describe_instances(
            InstanceIds=[first[ORIGINAL], second["i-0ffffffffffffffff"]]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert len(set(addresses)) == 2


def test_an_alert_that_already_names_a_look_alike_is_used_as_it_is(sandbox, mapped):
    event, _ = mapped

    again, second = sandbox.map_alert(event)

    assert second == {}
    assert again == event
