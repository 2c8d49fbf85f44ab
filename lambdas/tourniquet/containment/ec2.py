"""EC2 reads and writes for containment.

Every resource an action touches is derived from the target instance as EC2 describes it, except the
quarantine security groups, which Tourniquet owns (one pair per VPC, found by name and reused).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError, WaiterError

from tourniquet import aws, errors
from tourniquet.containment.calls import execute
from tourniquet.containment.model import Call

TAG_INCIDENT = "tourniquet:incident"
TAG_STATUS = "tourniquet:status"
TAG_EVIDENCE = "tourniquet:evidence"
TAG_SOURCE_VOLUME = "tourniquet:source-volume"
TAG_DEVICE = "tourniquet:device"
TAG_INSTANCE = "tourniquet:instance"
TAG_ROLE = "tourniquet:role"
TAG_MANAGED = "tourniquet:managed"

GroupRole = Literal["untracking", "quarantine"]

_NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
_ANY_IPV4 = "0.0.0.0/0"
_ANY_IPV6 = "::/0"
_PERMISSION_KEYS = (
    "IpProtocol",
    "FromPort",
    "ToPort",
    "IpRanges",
    "Ipv6Ranges",
    "PrefixListIds",
    "UserIdGroupPairs",
)


@dataclass(frozen=True)
class Volume:
    volume_id: str
    device: str
    delete_on_termination: bool


@dataclass(frozen=True)
class Interface:
    eni_id: str
    vpc_id: str
    group_ids: tuple[str, ...]
    private_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    instance_id: str
    state: str
    tags: Mapping[str, str]
    volumes: tuple[Volume, ...]
    interfaces: tuple[Interface, ...]


@dataclass(frozen=True)
class Group:
    group_id: str
    ingress: tuple[dict[str, Any], ...]
    egress: tuple[dict[str, Any], ...]
    managed: bool = True
    """Created by Tourniquet (tagged so at creation); only such groups may have their rules changed."""


def client() -> Any:
    return aws.client("ec2")


def region() -> str:
    return str(client().meta.region_name)


def describe_instance(instance_id: str) -> Instance:
    try:
        response = client().describe_instances(InstanceIds=[instance_id])
    except ClientError as exc:
        if aws.error_code(exc) in _NOT_FOUND_CODES:
            raise errors.TargetNotFound(f"instance {instance_id} does not exist") from exc
        raise
    found = [item for reservation in response["Reservations"] for item in reservation["Instances"]]
    if not found:
        raise errors.TargetNotFound(f"instance {instance_id} does not exist")
    return instance_of(found[0])


def instance_of(raw: Mapping[str, Any]) -> Instance:
    """An instance as ``DescribeInstances`` describes it."""
    return Instance(
        instance_id=raw["InstanceId"],
        state=raw["State"]["Name"],
        tags=tag_map(raw.get("Tags", [])),
        volumes=tuple(
            Volume(
                volume_id=mapping["Ebs"]["VolumeId"],
                device=mapping["DeviceName"],
                delete_on_termination=bool(mapping["Ebs"].get("DeleteOnTermination", False)),
            )
            for mapping in raw.get("BlockDeviceMappings", [])
            if "Ebs" in mapping
        ),
        interfaces=tuple(
            Interface(
                eni_id=eni["NetworkInterfaceId"],
                vpc_id=eni["VpcId"],
                group_ids=tuple(group["GroupId"] for group in eni.get("Groups", [])),
                private_ips=tuple(
                    address["PrivateIpAddress"]
                    for address in eni.get("PrivateIpAddresses", [])
                    if address.get("PrivateIpAddress")
                ),
            )
            for eni in sorted(raw.get("NetworkInterfaces", []), key=_device_index)
        ),
    )


def instance_of_summary(summary: Mapping[str, Any]) -> Instance | None:
    """The instance as the ec2_instance diagnostic read it moments ago, or None if its summary lacks
    anything containment reads."""
    try:
        return Instance(
            instance_id=str(summary["instance_id"]),
            state=str(summary["state"]),
            tags={str(k): str(v) for k, v in summary["tags"].items()},
            volumes=tuple(
                Volume(
                    volume_id=str(volume["volume_id"]),
                    device=str(volume["device"]),
                    delete_on_termination=bool(volume["delete_on_termination"]),
                )
                for volume in summary["volumes"]
            ),
            interfaces=tuple(
                Interface(
                    eni_id=str(eni["id"]),
                    vpc_id=str(eni["vpc_id"]),
                    group_ids=tuple(str(group["id"]) for group in eni["groups"]),
                    private_ips=tuple(str(ip) for ip in eni["private_ips"]),
                )
                for eni in summary["network_interfaces"]
            ),
        )
    except (KeyError, TypeError, AttributeError):
        return None


# A started instance runs within a minute or two; the Release function's timeout leaves room for this.
RUNNING_POLL_SECONDS = 5
RUNNING_POLLS = 36


def wait_until_running(instance_id: str) -> None:
    """Block until ``instance_id`` is running; :class:`errors.ReleaseFailed` if it does not get there."""
    try:
        client().get_waiter("instance_running").wait(
            InstanceIds=[instance_id],
            WaiterConfig={"Delay": RUNNING_POLL_SECONDS, "MaxAttempts": RUNNING_POLLS},
        )
    except WaiterError as exc:
        raise errors.ReleaseFailed(f"instance {instance_id} did not reach running: {exc}") from exc


def _device_index(eni: Mapping[str, Any]) -> int:
    return int(eni.get("Attachment", {}).get("DeviceIndex", 0))


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def tags_of(resource_ids: list[str], keys: list[str]) -> dict[str, dict[str, str]]:
    """The given tag keys of each resource (instances, volumes, ENIs, snapshots), in one paginated read."""
    found: dict[str, dict[str, str]] = {resource_id: {} for resource_id in resource_ids}
    if not resource_ids:
        return found
    pages = (
        client()
        .get_paginator("describe_tags")
        .paginate(Filters=[{"Name": "resource-id", "Values": resource_ids}, {"Name": "key", "Values": keys}])
    )
    for page in pages:
        for tag in page["Tags"]:
            found.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return found


def instance_attribute(instance_id: str, attribute: str) -> Any:
    response = client().describe_instance_attribute(InstanceId=instance_id, Attribute=attribute)
    return response[attribute[0].upper() + attribute[1:]].get("Value")


def evidence_snapshots(incident_id: str) -> list[dict[str, Any]]:
    """Snapshots this account owns that are tagged as evidence for the incident."""
    pages = (
        client()
        .get_paginator("describe_snapshots")
        .paginate(OwnerIds=["self"], Filters=[{"Name": f"tag:{TAG_INCIDENT}", "Values": [incident_id]}])
    )
    return [snapshot for page in pages for snapshot in page["Snapshots"]]


def snapshots(snapshot_ids: list[str]) -> list[dict[str, Any]]:
    """The snapshots with these ids that still exist: one read, however many snapshots the account holds."""
    if not snapshot_ids:
        return []
    try:
        return list(client().describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"])
    except ClientError as exc:
        if aws.error_code(exc) != "InvalidSnapshot.NotFound":
            raise
    if len(snapshot_ids) == 1:
        return []
    # EC2 refuses the whole read when one of them is gone: the others, one by one.
    return [snapshot for snapshot_id in snapshot_ids for snapshot in snapshots([snapshot_id])]


# Quarantine security groups: one "untracking" (allow all) and one "quarantine" (no rules) group per VPC.


def group_name(role: GroupRole, vpc_id: str) -> str:
    return f"tourniquet-{role}-{vpc_id}"


def group_placeholder(role: GroupRole, vpc_id: str) -> str:
    """Stands for a group id that does not exist yet, in a dry run's list of calls."""
    return f"<{group_name(role, vpc_id)}>"


GROUP_ROLES: tuple[GroupRole, ...] = ("untracking", "quarantine")


def find_groups(vpc_ids: Iterable[str]) -> dict[tuple[GroupRole, str], Group]:
    """Both groups of each VPC that has them, in one read, by (role, VPC)."""
    vpcs = sorted(set(vpc_ids))
    if not vpcs:
        return {}
    names = {group_name(role, vpc_id): (role, vpc_id) for vpc_id in vpcs for role in GROUP_ROLES}
    # A group name is unique per VPC, so it is the key that makes concurrent creation safe.
    pages = (
        client()
        .get_paginator("describe_security_groups")
        .paginate(
            Filters=[{"Name": "vpc-id", "Values": vpcs}, {"Name": "group-name", "Values": sorted(names)}]
        )
    )
    found: dict[tuple[GroupRole, str], Group] = {}
    for page in pages:
        for raw in page["SecurityGroups"]:
            key = names.get(raw["GroupName"])
            if key is None or raw.get("VpcId") != key[1]:
                continue
            found[key] = Group(
                group_id=raw["GroupId"],
                ingress=tuple(raw.get("IpPermissions", [])),
                egress=tuple(raw.get("IpPermissionsEgress", [])),
                managed=tag_map(raw.get("Tags", [])).get(TAG_MANAGED) == "true",
            )
    return found


_ALLOW_ALL = (
    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": _ANY_IPV4}]},
    {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": _ANY_IPV6}]},
)
# EC2 gives every new group an allow-all IPv4 egress rule; the quarantine group must lose it.
_DEFAULT_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": _ANY_IPV4}]}


def _allows_all(permissions: Iterable[Mapping[str, Any]]) -> set[str]:
    """The 'any address' ranges (IPv4 and IPv6) that the permissions open for all protocols."""
    opened: set[str] = set()
    for permission in permissions:
        if permission.get("IpProtocol") != "-1":
            continue
        opened.update(
            item["CidrIp"] for item in permission.get("IpRanges", []) if item.get("CidrIp") == _ANY_IPV4
        )
        opened.update(
            item["CidrIpv6"] for item in permission.get("Ipv6Ranges", []) if item.get("CidrIpv6") == _ANY_IPV6
        )
    return opened


def _missing_allow_all(permissions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    opened = _allows_all(permissions)
    return [
        dict(permission)
        for permission, cidr in zip(_ALLOW_ALL, (_ANY_IPV4, _ANY_IPV6), strict=True)
        if cidr not in opened
    ]


def _revocable(permission: Mapping[str, Any]) -> dict[str, Any]:
    return {key: permission[key] for key in _PERMISSION_KEYS if permission.get(key) not in (None, [])}


def group_calls(role: GroupRole, vpc_id: str, group: Group | None) -> list[Call]:
    """The calls that create the group (when missing) and bring its rules to what the role needs.

    The untracking group allows all traffic both ways (so tracked flows become untracked); the quarantine
    group has no rules at all. An empty list means the group exists and is already right. A group that
    only borrows the name is never used: whoever made it controls its rules.
    """
    if group is not None and not group.managed:
        raise errors.ContainmentFailed(
            f"{group.group_id} is named {group_name(role, vpc_id)} but lacks {TAG_MANAGED}=true: not used"
        )
    calls: list[Call] = []
    if group is None:
        name = group_name(role, vpc_id)
        calls.append(
            Call(
                operation="CreateSecurityGroup",
                params={
                    "GroupName": name,
                    "Description": f"Tourniquet {role} group: "
                    + ("allows all traffic, used for one step" if role == "untracking" else "no traffic"),
                    "VpcId": vpc_id,
                    "TagSpecifications": [
                        {
                            "ResourceType": "security-group",
                            "Tags": [
                                {"Key": "Name", "Value": name},
                                {"Key": TAG_ROLE, "Value": role},
                                {"Key": TAG_MANAGED, "Value": "true"},
                            ],
                        }
                    ],
                },
            )
        )
        group_id = group_placeholder(role, vpc_id)
        ingress: tuple[dict[str, Any], ...] = ()
        egress: tuple[dict[str, Any], ...] = (_DEFAULT_EGRESS,)
    else:
        group_id, ingress, egress = group.group_id, group.ingress, group.egress

    if role == "untracking":
        if missing := _missing_allow_all(ingress):
            calls.append(
                Call(
                    operation="AuthorizeSecurityGroupIngress",
                    params={"GroupId": group_id, "IpPermissions": missing},
                )
            )
        if missing := _missing_allow_all(egress):
            calls.append(
                Call(
                    operation="AuthorizeSecurityGroupEgress",
                    params={"GroupId": group_id, "IpPermissions": missing},
                )
            )
    else:
        if ingress:
            calls.append(
                Call(
                    operation="RevokeSecurityGroupIngress",
                    params={"GroupId": group_id, "IpPermissions": [_revocable(p) for p in ingress]},
                )
            )
        if egress:
            calls.append(
                Call(
                    operation="RevokeSecurityGroupEgress",
                    params={"GroupId": group_id, "IpPermissions": [_revocable(p) for p in egress]},
                )
            )
    return calls


# Another execution may change the same group at the same moment; its change is the one we wanted.
_RACE_CODES = frozenset({"InvalidPermission.Duplicate", "InvalidPermission.NotFound"})


def ensure_group(role: GroupRole, vpc_id: str, group: Group | None) -> tuple[str, list[str]]:
    """Create the role's group in the VPC unless ``group`` (as just read) is it, and enforce its rules;
    returns its id and request ids."""
    calls = group_calls(role, vpc_id, group)
    request_ids: list[str] = []
    if group is None:
        create, *calls = calls
        try:
            rid, response = execute(create)
        except ClientError as exc:
            if aws.error_code(exc) != "InvalidGroup.Duplicate":
                raise
            group = find_groups([vpc_id]).get((role, vpc_id))
            if group is None:
                raise errors.ContainmentFailed(
                    f"{group_name(role, vpc_id)} exists but cannot be read"
                ) from exc
            group_id = group.group_id
            calls = group_calls(role, vpc_id, group)
        else:
            request_ids.append(rid)
            group_id = str(response["GroupId"])
            calls = [
                Call(operation=c["operation"], params={**c["params"], "GroupId": group_id}) for c in calls
            ]
    else:
        group_id = group.group_id
    for call in calls:
        try:
            rid, _ = execute(call)
        except ClientError as exc:
            if aws.error_code(exc) not in _RACE_CODES:
                raise
            continue
        request_ids.append(rid)
    return group_id, request_ids
