"""Look-alikes for instances as real findings describe them: fields missing, null, of the wrong type, or
unknown; groups the look-alike VPC already has. Whatever can be seeded is, and nothing raises."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.core import Sandbox
from sandbox.seed import FIXED_AMI
from tests.helpers import load_event

pytestmark = pytest.mark.long

_unique = itertools.count(1)


def _finding() -> tuple[dict[str, Any], str]:
    """The EC2 fixture about an instance, VPC and subnet no other test maps: ``(event, instance id)``."""
    event = load_event("guardduty_ec2_finding")
    n = next(_unique)
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = f"i-0shape{n:012d}"
    [interface] = details["networkInterfaces"]
    interface.update(vpcId=f"vpc-0shape{n:010d}", subnetId=f"subnet-0shape{n:07d}")
    return event, details["instanceId"]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = event["detail"]["resource"]["instanceDetails"]
    return details


def _instance(sandbox: Sandbox, instance_id: str) -> dict[str, Any]:
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance: dict[str, Any] = reservations[0]["Instances"][0]
    return instance


def _group_names(instance: dict[str, Any]) -> list[str]:
    return [group["GroupName"] for eni in instance["NetworkInterfaces"] for group in eni["Groups"]]


def test_an_interface_without_security_groups_gets_the_sandbox_application_group(sandbox: Sandbox):
    finding, original = _finding()
    del _details(finding)["networkInterfaces"][0]["securityGroups"]

    event, mapping = sandbox.map_alert(finding)

    instance = _instance(sandbox, mapping[original])
    assert _group_names(instance) == ["web-app"]
    assert _details(event)["instanceId"] == mapping[original]
    assert not any(key.startswith("sg-") for key in mapping)


@pytest.mark.parametrize("interfaces", [None, [], "eni-0123456789abcdef0", [None, 3, "x"]])
def test_an_instance_without_usable_interfaces_gets_one_in_the_sandbox_network(
    sandbox: Sandbox, interfaces: Any
):
    finding, original = _finding()
    _details(finding)["networkInterfaces"] = interfaces

    event, mapping = sandbox.map_alert(finding)

    instance = _instance(sandbox, mapping[original])
    assert len(instance["NetworkInterfaces"]) == 1
    assert instance["State"]["Name"] == "running"
    assert _details(event)["networkInterfaces"] == interfaces


def test_a_group_named_default_is_the_look_alike_vpcs_own_default_group(sandbox: Sandbox):
    finding, original = _finding()
    _details(finding)["networkInterfaces"][0]["securityGroups"] = [
        {"groupId": "sg-0d0d0d0d0d0d0d0d0", "groupName": "default"},
        {"groupId": "sg-0123456789abcdef0", "groupName": "web-app"},
    ]
    ec2 = sandbox.client("ec2")

    event, mapping = sandbox.map_alert(finding)

    instance = _instance(sandbox, mapping[original])
    [default] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [instance["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    assert mapping["sg-0d0d0d0d0d0d0d0d0"] == default["GroupId"]
    assert [g["GroupId"] for g in instance["NetworkInterfaces"][0]["Groups"]] == [
        default["GroupId"],
        mapping["sg-0123456789abcdef0"],
    ]
    assert _details(event)["networkInterfaces"][0]["securityGroups"][0]["groupId"] == default["GroupId"]


def test_two_groups_of_one_name_in_one_vpc_get_a_look_alike_each(sandbox: Sandbox):
    # A group deleted and made again keeps its name under a new id; findings may name both.
    first, _ = _finding()
    second, second_id = _finding()
    _details(second)["networkInterfaces"][0]["vpcId"] = _details(first)["networkInterfaces"][0]["vpcId"]
    _details(second)["networkInterfaces"][0]["securityGroups"] = [
        {"groupId": "sg-0another00000000", "groupName": "web-app"}
    ]

    _, first_mapping = sandbox.map_alert(first)
    _, second_mapping = sandbox.map_alert(second)

    ec2 = sandbox.client("ec2")
    [group] = ec2.describe_security_groups(GroupIds=[second_mapping["sg-0another00000000"]])["SecurityGroups"]
    assert group["GroupId"] != first_mapping["sg-0123456789abcdef0"]
    assert group["GroupName"].startswith("web-app-")
    assert (
        _instance(sandbox, second_mapping[second_id])["VpcId"]
        == first_mapping[_details(first)["networkInterfaces"][0]["vpcId"]]
    )


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(details: dict[str, Any]) -> None:
        target: Any = details
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(details: dict[str, Any]) -> None:
        for key in keys:
            details.pop(key, None)
        for key in keys:
            details["networkInterfaces"][0].pop(key, None)

    return change


ENI = ("networkInterfaces", 0)

SHAPES: dict[str, Callable[[dict[str, Any]], None]] = {
    "no-instance-type": _drop("instanceType"),
    "unknown-instance-type": _set(("instanceType",), "zz99.galactic"),
    "instance-type-a-number": _set(("instanceType",), 7),
    "no-image": _drop("imageId", "imageDescription"),
    "no-vpc-nor-subnet": _drop("vpcId", "subnetId"),
    "no-subnet": _drop("subnetId"),
    "no-private-address": _drop("privateIpAddress"),
    "address-not-an-address": _set((*ENI, "privateIpAddress"), "ten.zero.one.two"),
    "address-a-number": _set((*ENI, "privateIpAddress"), 12),
    "public-address": _set((*ENI, "privateIpAddress"), "8.8.8.8"),
    "ipv6-address": _set((*ENI, "privateIpAddress"), "fd00::23"),
    "vpc-id-a-number": _set((*ENI, "vpcId"), 5),
    "groups-a-string": _set((*ENI, "securityGroups"), "sg-0123456789abcdef0"),
    "groups-of-strings": _set((*ENI, "securityGroups"), ["sg-0123456789abcdef0"]),
    "group-without-id": _set((*ENI, "securityGroups"), [{"groupName": "web-app"}]),
    "group-with-blank-name": _set(
        (*ENI, "securityGroups"), [{"groupId": "sg-0b1a2c3d4e5f60718", "groupName": ""}]
    ),
    "profile-a-string": _set(("iamInstanceProfile",), "arn:aws:iam::123456789012:instance-profile/x"),
    "profile-arn-ending-in-slash": _set(("iamInstanceProfile", "arn"), "arn:aws:iam::1:instance-profile/"),
    "profile-name-iam-refuses": _set(("iamInstanceProfile", "arn"), "arn:aws:iam::1:instance-profile/a b!"),
    "profile-null": _set(("iamInstanceProfile",), None),
    "tags-a-mapping": _set(("tags",), {"Name": "web-app-1"}),
    "tags-of-wrong-types": _set(("tags",), [{"key": "Name"}, {"key": 3, "value": "x"}, "Env=prod", None]),
    "sixty-tags": _set(("tags",), [{"key": f"k{i}", "value": "v"} for i in range(60)]),
    "instance-type-with-control-characters": _set(("instanceType",), "m5.large\x06"),
    "tags-with-control-characters": _set(("tags",), [{"key": "Name\x00", "value": "web\x1b-app"}]),
    "group-name-with-control-characters": _set((*ENI, "securityGroups", 0, "groupName"), "web\x0bapp"),
    "extra-fields": _set(("somethingNew",), {"nested": [1, {"deeper": None}]}),
}


@pytest.mark.parametrize("change", list(SHAPES.values()), ids=list(SHAPES))
def test_any_instance_shape_gets_a_running_look_alike_and_only_real_ids_are_rewritten(
    sandbox: Sandbox, change: Callable[[dict[str, Any]], None]
):
    finding, original = _finding()
    change(_details(finding))

    event, mapping = sandbox.map_alert(finding)

    instance = _instance(sandbox, mapping[original])
    assert instance["State"]["Name"] == "running"
    assert instance["ImageId"] == FIXED_AMI
    # Only text ids are replaced: a number or a blank would be replaced inside every string of the event.
    assert all(isinstance(key, str) and len(key) > 3 for key in mapping)
    assert (event["source"], event["detail-type"]) == (finding["source"], finding["detail-type"])
    assert _details(event)["instanceId"] == mapping[original]


@pytest.mark.parametrize("instance_id", [12345, "", None, ["i-0a1b2c3d4e5f67890"]])
def test_an_instance_id_that_is_not_text_names_nothing_to_seed(sandbox: Sandbox, instance_id: Any):
    finding, _ = _finding()
    _details(finding)["instanceId"] = instance_id

    assert sandbox.map_alert(finding) == (finding, {})


def _tags(instance: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


@pytest.mark.parametrize("form", ["eventbridge", "get-findings"])
def test_a_security_hub_instance_resource_gets_a_look_alike_of_its_type_tags_and_network(
    sandbox: Sandbox, form: str
):
    event = load_event("securityhub_guardduty_ec2")
    n = next(_unique)
    [finding] = event["detail"]["findings"]
    [resource] = finding["Resources"]
    original = f"i-0shub{n:013d}"
    resource["Id"] = f"arn:aws:ec2:eu-west-1:123456789012:instance/{original}"
    details = resource["Details"]["AwsEc2Instance"]
    details.update(VpcId=f"vpc-0shub{n:011d}", SubnetId=f"subnet-0shub{n:008d}")
    alert = event if form == "eventbridge" else {"Findings": [finding]}

    mapped, mapping = sandbox.map_alert(alert)

    instance = _instance(sandbox, mapping[original])
    assert instance["InstanceType"] == "m5.large"
    assert instance["PrivateIpAddress"] == "10.0.1.23"
    assert _tags(instance)["Name"] == "web-app-1"
    assert instance["VpcId"] == mapping[details["VpcId"]]
    findings = mapped["detail"]["findings"] if form == "eventbridge" else mapped["Findings"]
    assert findings[0]["Resources"][0]["Id"].endswith(f"instance/{mapping[original]}")


def test_a_guardduty_get_findings_instance_gets_a_look_alike_with_its_groups(sandbox: Sandbox):
    event = load_event("guardduty_get_findings")
    n = next(_unique)
    details = event["Findings"][0]["Resource"]["InstanceDetails"]
    original = details["InstanceId"] = f"i-0sgdf{n:013d}"
    [interface] = details["NetworkInterfaces"]
    interface.update(VpcId=f"vpc-0sgdf{n:011d}", SubnetId=f"subnet-0sgdf{n:008d}")

    mapped, mapping = sandbox.map_alert(event)

    instance = _instance(sandbox, mapping[original])
    assert _group_names(instance) == ["web-app"]
    assert mapped["Findings"][0]["Resource"]["InstanceDetails"]["InstanceId"] == mapping[original]
