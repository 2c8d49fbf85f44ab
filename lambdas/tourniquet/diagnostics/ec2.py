"""The ec2_instance diagnostic (read-only): what the instance is, where it sits, whether it is protected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, store

_NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})


def describe(instance_id: str, protected_tag_key: str) -> dict[str, Any] | None:
    """The instance summary, or None when EC2 does not know the instance."""
    ec2 = aws.client("ec2")
    try:
        response = ec2.describe_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if aws.error_code(exc) in _NOT_FOUND_CODES:
            return None
        raise
    found = [item for reservation in response["Reservations"] for item in reservation["Instances"]]
    if not found:
        return None
    statuses = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)[
        "InstanceStatuses"
    ]
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])[
        "Volumes"
    ]
    return summarize(found[0], statuses[0] if statuses else None, volumes, protected_tag_key)


def summarize(
    instance: Mapping[str, Any],
    status: Mapping[str, Any] | None,
    volumes: Iterable[Mapping[str, Any]],
    protected_tag_key: str,
) -> dict[str, Any]:
    """A JSON-ready summary of describe_instances, describe_instance_status and describe_volumes."""
    tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
    sizes = {volume["VolumeId"]: volume.get("Size") for volume in volumes}
    profile = instance.get("IamInstanceProfile") or {}
    return {
        "instance_id": instance["InstanceId"],
        "state": instance.get("State", {}).get("Name"),
        "instance_type": instance.get("InstanceType"),
        "launch_time": _iso(instance.get("LaunchTime")),
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
        "vpc_id": instance.get("VpcId"),
        "subnet_id": instance.get("SubnetId"),
        "image_id": instance.get("ImageId"),
        "private_ip": instance.get("PrivateIpAddress"),
        "public_ip": instance.get("PublicIpAddress"),
        "tags": tags,
        "protected": protected_tag_key in tags,
        "iam_instance_profile": profile.get("Arn"),
        "volumes": [
            {
                "volume_id": mapping["Ebs"]["VolumeId"],
                "device": mapping.get("DeviceName"),
                "size_gib": sizes.get(mapping["Ebs"]["VolumeId"]),
                "delete_on_termination": bool(mapping["Ebs"].get("DeleteOnTermination", False)),
            }
            for mapping in instance.get("BlockDeviceMappings", [])
            if "Ebs" in mapping
        ],
        # Primary first, every address of each: containment reads the instance from here.
        "network_interfaces": [
            {
                "id": eni["NetworkInterfaceId"],
                "vpc_id": eni.get("VpcId"),
                "subnet_id": eni.get("SubnetId"),
                "private_ip": eni.get("PrivateIpAddress"),
                "private_ips": [
                    address["PrivateIpAddress"]
                    for address in eni.get("PrivateIpAddresses", [])
                    if address.get("PrivateIpAddress")
                ],
                "public_ip": (eni.get("Association") or {}).get("PublicIp"),
                "groups": [{"id": g["GroupId"], "name": g.get("GroupName")} for g in eni.get("Groups", [])],
            }
            for eni in sorted(
                instance.get("NetworkInterfaces", []),
                key=lambda eni: int(eni.get("Attachment", {}).get("DeviceIndex", 0)),
            )
        ],
        "status_checks": {
            "instance": (status or {}).get("InstanceStatus", {}).get("Status"),
            "system": (status or {}).get("SystemStatus", {}).get("Status"),
        },
    }


def _iso(moment: Any) -> str | None:
    return store.iso(moment.astimezone(UTC)) if isinstance(moment, datetime) else None
