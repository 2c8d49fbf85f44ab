"""Look-alike resources for an alert, so the workflow has something real to diagnose and contain.

:meth:`Seeder.map_alert` reads the entities a GuardDuty EC2 finding names (instance, ENIs, subnet, VPC,
security groups, instance profile), creates a look-alike of each in the sandbox, and returns a copy of the
event with the ids rewritten plus the mapping ``{original_id: sandbox_id}``. The same original id always
maps to the same look-alike, so a re-sent finding names the same instance. CloudTrail events are seeded for
each new instance: its launch, and a few calls made with its role's credentials from an unusual address.

A finding about an access key or a user (GuardDuty's ``accessKeyDetails``, or Security Hub's
``AwsIamAccessKey`` and ``AwsIamUser`` resources, from GetFindings or EventBridge) gets the principal behind
it, under a fresh name: an IAM user with a real access key, console login, a group, a managed and an inline
policy; or a role that EC2 assumes, with a managed and an inline policy, and a fresh session key id. The
key's calls are seeded too.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import itertools
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from sandbox.cloudtrail import TrailEvent, TrailStore

# An Amazon Linux AMI that moto ships in every region: launching by id avoids the slow describe_images.
FIXED_AMI = "ami-760aaa0f"
UNUSUAL_IP = "198.51.100.23"
PIPELINE_IP = "203.0.113.10"
# A finding may list more interfaces than instances take; look-alikes get the first few (each costs time).
MAX_INTERFACES = 8
# AWS allows 50 tags on a resource: a look-alike keeps the finding's first 40, leaving room for others.
MAX_TAGS = 40
_EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


class SeedError(Exception):
    """Look-alikes the sandbox could not make for an alert; the message says what was refused."""


@dataclass(frozen=True)
class SeededInstance:
    instance_id: str
    vpc_id: str
    subnet_id: str
    security_group_ids: tuple[str, ...]
    network_interface_ids: tuple[str, ...]
    volume_ids: tuple[str, ...]
    role_name: str
    role_arn: str
    instance_profile_name: str
    instance_profile_arn: str
    instance_profile_id: str
    availability_zone: str
    private_ip: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkSpec:
    """Where an instance's primary interface lives (the alert's ids, used to share look-alikes)."""

    vpc_key: str = "sandbox-vpc"
    subnet_key: str = "sandbox-subnet"
    security_groups: tuple[tuple[str, str], ...] = (("default-sg", "web-app"),)
    private_ip: str | None = None


PrincipalKind = Literal["user", "role"]
# One seeded call: (event name, event source, read-only, resources, request parameters, error code).
_Probe = tuple[str, str, bool, tuple[tuple[str, str], ...], dict[str, Any], str | None]
# Findings about these principals get look-alikes; root is never seeded (Tourniquet never contains it).
_PRINCIPAL_TYPES = frozenset({"IAMUser", "AssumedRole"})
_IAM_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")
# AWS ids and ARNs are printable ASCII.
_ID = re.compile(r"[!-~]{4,}")
# What an instance type looks like (m5.large, u-6tb1.metal); moto takes unknown ones of this shape.
_INSTANCE_TYPE = re.compile(r"[a-z0-9-]+\.[a-z0-9-]+")
# Characters XML 1.0 cannot carry: EC2 and IAM answer in XML, and moto's answer would not parse.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GUARDDUTY_FIELDS = "aws/guardduty/service/action/awsApiCallAction/"
# (kind, name, key id or "", principal id or "") of a user or role an alert names.
_PrincipalKey = tuple[PrincipalKind, str, str, str]


@dataclass(frozen=True)
class SeededPrincipal:
    """A look-alike IAM user or role: what it holds before any containment, and its keys."""

    kind: PrincipalKind
    name: str
    arn: str
    principal_id: str
    groups: tuple[str, ...] = ()
    attached_policy_arns: tuple[str, ...] = ()
    inline_policy_names: tuple[str, ...] = ()
    login_profile: bool = False
    access_keys: dict[str, str] = field(default_factory=dict)
    """``{finding's key id: look-alike key id}``: real IAM keys for a user, fresh session ids for a role."""


class Seeder:
    """Creates look-alikes through the given boto3 clients and seeds CloudTrail events into ``trail``."""

    def __init__(self, *, ec2: Any, iam: Any, trail: TrailStore, region: str, account_id: str) -> None:
        self.ec2 = ec2
        self.iam = iam
        self.trail = trail
        self.region = region
        self.account_id = account_id
        self._lock = threading.RLock()
        self._vpcs: dict[str, str] = {}
        # Subnets and groups are keyed by VPC too: a finding's subnet or group id names a look-alike in the
        # look-alike of its own VPC.
        self._subnets: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._groups: dict[tuple[str, str], str] = {}
        self._instances: dict[str, tuple[SeededInstance, dict[str, str]]] = {}
        self._private_ips: set[tuple[str, str]] = set()
        self._principals: dict[tuple[PrincipalKind, str], SeededPrincipal] = {}
        self._principal_group_name: str | None = None
        self._managed_policies: dict[str, str] = {}

    # Building blocks

    def _claim_ip(self, address: str, subnet_id: str) -> bool:
        """Whether ``address`` is free in the subnet, and now taken (moto fails a launch on a taken one)."""
        with self._lock:
            if (subnet_id, address) in self._private_ips:
                return False
            in_use = self.ec2.describe_network_interfaces(
                Filters=[
                    {"Name": "subnet-id", "Values": [subnet_id]},
                    {"Name": "private-ip-address", "Values": [address]},
                ]
            )["NetworkInterfaces"]
            if in_use:
                return False
            self._private_ips.add((subnet_id, address))
            return True

    def vpc(self, key: str, cidr: str = "10.0.0.0/16") -> str:
        with self._lock:
            if key not in self._vpcs:
                vpc_id = self.ec2.create_vpc(
                    CidrBlock=cidr, TagSpecifications=[_tags("vpc", {"Name": f"look-alike {key}"})]
                )["Vpc"]["VpcId"]
                self._vpcs[key] = vpc_id
            return self._vpcs[key]

    def subnet(self, key: str, vpc_id: str, cidr: str = "10.0.1.0/24") -> tuple[str, str, str]:
        """``(subnet_id, availability_zone, cidr)``: ``cidr`` unless the VPC lacks it or another subnet
        holds it (two findings may place one subnet differently), else the VPC's first free /24."""
        with self._lock:
            if (vpc_id, key) not in self._subnets:
                zone = f"{self.region}a"
                block = self._free_block(vpc_id, cidr)
                subnet_id = self.ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=block,
                    AvailabilityZone=zone,
                    TagSpecifications=[_tags("subnet", {"Name": f"look-alike {key}"})],
                )["Subnet"]["SubnetId"]
                self._subnets[vpc_id, key] = (subnet_id, zone, block)
            return self._subnets[vpc_id, key]

    def _free_block(self, vpc_id: str, preferred: str | None = None) -> str:
        """``preferred`` if it lies in the VPC and overlaps no subnet of it, else the VPC's first free /24."""
        vpc = ipaddress.IPv4Network(self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"])
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
        taken = [ipaddress.IPv4Network(subnet["CidrBlock"]) for subnet in subnets]
        first = [ipaddress.IPv4Network(preferred)] if preferred else []
        for block in itertools.chain(first, vpc.subnets(new_prefix=24)):
            if block.subnet_of(vpc) and not any(block.overlaps(used) for used in taken):
                return str(block)
        raise SeedError(f"no free /24 block left in look-alike VPC {vpc_id}")

    def security_group(self, key: str, vpc_id: str, name: str) -> str:
        """The look-alike in ``vpc_id`` of the finding's group ``key`` named ``name``.

        A group named ``default`` is the VPC's own default group: every VPC has one, and only one. Any other
        is a new group like an application's.
        """
        with self._lock:
            if (vpc_id, key) not in self._groups:
                self._groups[vpc_id, key] = (
                    self._default_group(vpc_id) if name == "default" else self._group(key, vpc_id, name)
                )
            return self._groups[vpc_id, key]

    def _default_group(self, vpc_id: str) -> str:
        [group] = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
        return str(group["GroupId"])

    def _group(self, key: str, vpc_id: str, name: str) -> str:
        """A group like an application's: HTTPS from anywhere, SSH from the VPC, all egress.

        Names are unique in a VPC, yet findings can name two groups alike (a group deleted and made again
        keeps its name under a new id): the second look-alike gets a suffix.
        """
        description = f"look-alike of {key}"
        try:
            created = self.ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidGroup.Duplicate":
                raise
            created = self.ec2.create_security_group(
                GroupName=f"{name}-{secrets.token_hex(3)}", Description=description, VpcId=vpc_id
            )
        group_id = str(created["GroupId"])
        self.ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                },
            ],
        )
        return group_id

    def instance_profile(self, profile_name: str, role_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(role, instance_profile)``, created once per name with a small inline policy on the role."""
        with self._lock:
            try:
                profile = self.iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
            except self.iam.exceptions.NoSuchEntityException:
                role = self.iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_EC2_TRUST)["Role"]
                self.iam.put_role_policy(
                    RoleName=role_name,
                    PolicyName="application-access",
                    PolicyDocument=json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
                        }
                    ),
                )
                profile = self.iam.create_instance_profile(InstanceProfileName=profile_name)[
                    "InstanceProfile"
                ]
                self.iam.add_role_to_instance_profile(InstanceProfileName=profile_name, RoleName=role_name)
                return role, profile
            role = (
                self.iam.get_role(RoleName=profile["Roles"][0]["RoleName"])["Role"]
                if profile["Roles"]
                else None
            )
            if role is None:
                role = self.iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_EC2_TRUST)["Role"]
                self.iam.add_role_to_instance_profile(InstanceProfileName=profile_name, RoleName=role_name)
            return role, profile

    def instance(
        self,
        *,
        tags: Mapping[str, str] | None = None,
        instance_type: str = "t3.micro",
        volumes: int = 3,
        network_interfaces: int = 1,
        network: NetworkSpec | None = None,
        profile_name: str = "web-app-profile",
        role_name: str | None = None,
        seed_cloudtrail: bool = True,
    ) -> SeededInstance:
        """An instance with ``volumes`` volumes and ``network_interfaces`` ENIs (root and primary first)."""
        if volumes < 1 or network_interfaces < 1:
            raise ValueError("an instance has at least a root volume and a primary network interface")
        network = network or NetworkSpec()
        address = _private_ipv4(network.private_ip)
        vpc_cidr, subnet_cidr = _cidrs(address)
        with self._lock:
            vpc_id = self.vpc(network.vpc_key, vpc_cidr)
            subnet_id, zone, subnet_cidr = self.subnet(network.subnet_key, vpc_id, subnet_cidr)
            # Two of the finding's groups can have one look-alike (two named "default"): each is listed once.
            group_ids = tuple(
                dict.fromkeys(self.security_group(key, vpc_id, name) for key, name in network.security_groups)
            )
        role, profile = self.instance_profile(profile_name, role_name or _role_name(profile_name))
        all_tags = {"Name": "web-app-1", **dict(tags or {})}
        launch: dict[str, Any] = {
            "ImageId": FIXED_AMI,
            "MinCount": 1,
            "MaxCount": 1,
            "InstanceType": instance_type,
            "SubnetId": subnet_id,
            "SecurityGroupIds": list(group_ids),
            "IamInstanceProfile": {"Arn": profile["Arn"]},
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}
            ],
            "TagSpecifications": [_tags("instance", all_tags)],
        }
        if (
            address is not None
            and address in ipaddress.ip_network(subnet_cidr)
            and self._claim_ip(str(address), subnet_id)
        ):
            # The alert's own address where it is free; two alerts naming one address get two instances.
            launch["PrivateIpAddress"] = str(address)
        described = self.ec2.run_instances(**launch)["Instances"][0]
        instance_id = described["InstanceId"]
        for index, device in zip(range(1, volumes), _data_devices(), strict=False):
            volume_id = self.ec2.create_volume(
                AvailabilityZone=zone,
                Size=20 * index,
                VolumeType="gp3",
                TagSpecifications=[_tags("volume", {"Name": f"{all_tags['Name']}-data-{index}"})],
            )["VolumeId"]
            self.ec2.attach_volume(Device=device, InstanceId=instance_id, VolumeId=volume_id)
        for index in range(1, network_interfaces):
            eni_id = self.ec2.create_network_interface(
                SubnetId=subnet_id,
                Groups=list(group_ids),
                Description=f"{all_tags['Name']} interface {index}",
            )["NetworkInterface"]["NetworkInterfaceId"]
            self.ec2.attach_network_interface(
                NetworkInterfaceId=eni_id, InstanceId=instance_id, DeviceIndex=index
            )
        current = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        enis = sorted(current["NetworkInterfaces"], key=lambda eni: eni["Attachment"]["DeviceIndex"])
        seeded = SeededInstance(
            instance_id=instance_id,
            vpc_id=vpc_id,
            subnet_id=subnet_id,
            security_group_ids=group_ids,
            network_interface_ids=tuple(eni["NetworkInterfaceId"] for eni in enis),
            volume_ids=tuple(
                mapping["Ebs"]["VolumeId"]
                for mapping in sorted(
                    current["BlockDeviceMappings"], key=lambda m: m["DeviceName"] != "/dev/xvda"
                )
            ),
            role_name=role["RoleName"],
            role_arn=role["Arn"],
            instance_profile_name=profile["InstanceProfileName"],
            instance_profile_arn=profile["Arn"],
            instance_profile_id=profile["InstanceProfileId"],
            availability_zone=zone,
            private_ip=current["PrivateIpAddress"],
            tags=all_tags,
        )
        if seed_cloudtrail:
            self.trail.add(self.cloudtrail_events(seeded, role_id=role["RoleId"]))
        return seeded

    # CloudTrail

    def cloudtrail_events(
        self, instance: SeededInstance, *, role_id: str = "AROASANDBOXROLE000001", now: datetime | None = None
    ) -> list[TrailEvent]:
        """The instance's launch by a pipeline, then calls with its role's credentials from an odd address."""
        now = now or datetime.now(UTC)
        role_key = "ASIA" + secrets.token_hex(8).upper()
        launched = now - timedelta(minutes=20)
        events = [
            self._event(
                "RunInstances",
                "ec2.amazonaws.com",
                launched,
                username="deploy-pipeline",
                access_key="AKIA" + secrets.token_hex(8).upper(),
                read_only=False,
                resources=(("AWS::EC2::Instance", instance.instance_id),),
                identity={
                    "type": "IAMUser",
                    "principalId": "AIDASANDBOXPIPELINE01",
                    "arn": f"arn:aws:iam::{self.account_id}:user/deploy-pipeline",
                    "userName": "deploy-pipeline",
                },
                source_ip=PIPELINE_IP,
                request={
                    "instanceType": "t3.micro",
                    "iamInstanceProfile": {"arn": instance.instance_profile_arn},
                },
                response={"instancesSet": {"items": [{"instanceId": instance.instance_id}]}},
            )
        ]
        role_identity = self._role_session(
            role_id, instance.role_arn, instance.role_name, instance.instance_id, launched, delivery="2.0"
        )
        suspicious: list[_Probe] = [
            ("GetCallerIdentity", "sts.amazonaws.com", True, (), {}, None),
            ("ListBuckets", "s3.amazonaws.com", True, (), {}, None),
            (
                "ListAttachedRolePolicies",
                "iam.amazonaws.com",
                True,
                (("AWS::IAM::Role", instance.role_name),),
                {"roleName": instance.role_name},
                None,
            ),
            (
                "RunInstances",
                "ec2.amazonaws.com",
                False,
                (),
                {"instanceType": "p3.16xlarge"},
                "Client.UnauthorizedOperation",
            ),
        ]
        for minutes, (name, source, read_only, resources, request, error_code) in zip(
            (15, 12, 9, 6), suspicious, strict=True
        ):
            events.append(
                self._event(
                    name,
                    source,
                    now - timedelta(minutes=minutes),
                    username=instance.instance_id,
                    access_key=role_key,
                    read_only=read_only,
                    resources=(("AWS::EC2::Instance", instance.instance_id), *resources),
                    identity=role_identity,
                    source_ip=UNUSUAL_IP,
                    request=request,
                    error_code=error_code,
                    user_agent="aws-cli/2.15.0 Python/3.11.6 Linux/5.10 botocore/2.4.5",
                )
            )
        return events

    def _role_session(
        self, role_id: str, role_arn: str, role_name: str, session: str, created: datetime, *, delivery: str
    ) -> dict[str, Any]:
        """A CloudTrail ``userIdentity`` for a session of the role (credentials EC2 delivered)."""
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{session}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": role_arn,
                    "accountId": self.account_id,
                    "userName": role_name,
                },
                "attributes": {"creationDate": created.isoformat(), "mfaAuthenticated": "false"},
                "ec2RoleDelivery": delivery,
            },
        }

    def _event(
        self,
        name: str,
        source: str,
        at: datetime,
        *,
        username: str,
        access_key: str,
        read_only: bool,
        resources: tuple[tuple[str, str], ...],
        identity: dict[str, Any],
        source_ip: str,
        request: dict[str, Any],
        response: dict[str, Any] | None = None,
        error_code: str | None = None,
        user_agent: str = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux",
    ) -> TrailEvent:
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": {**identity, "accountId": self.account_id, "accessKeyId": access_key},
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "awsRegion": self.region,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
            "requestParameters": request or None,
            "responseElements": response,
            "requestID": secrets.token_hex(16),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        }
        if error_code:
            record["errorCode"] = error_code
            record["errorMessage"] = "You are not authorized to perform this operation."
        return TrailEvent(
            event_name=name,
            event_source=source,
            event_time=at,
            username=username,
            access_key_id=access_key,
            read_only=read_only,
            resources=resources,
            record=record,
        )

    # Principals

    def user(self, original_name: str) -> SeededPrincipal:
        """A look-alike IAM user with console access, a group, a managed and an inline policy, and tags."""
        with self._lock:
            name = _look_alike_name(original_name)
            user = self.iam.create_user(
                UserName=name, Tags=[{"Key": "team", "Value": "platform"}, {"Key": "owner", "Value": "ci"}]
            )["User"]
            self.iam.create_login_profile(
                UserName=name, Password=secrets.token_urlsafe(24), PasswordResetRequired=False
            )
            group = self._principal_group()
            self.iam.add_user_to_group(GroupName=group, UserName=name)
            managed = self._managed_policy(
                "look-alike-deploy-access",
                [{"Effect": "Allow", "Action": ["cloudformation:*", "s3:PutObject"], "Resource": "*"}],
            )
            self.iam.attach_user_policy(UserName=name, PolicyArn=managed)
            self.iam.put_user_policy(
                UserName=name,
                PolicyName="read-deploy-secrets",
                PolicyDocument=_policy(
                    [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}]
                ),
            )
            return SeededPrincipal(
                kind="user",
                name=name,
                arn=user["Arn"],
                principal_id=user["UserId"],
                groups=(group,),
                attached_policy_arns=(managed,),
                inline_policy_names=("read-deploy-secrets",),
                login_profile=True,
            )

    def role(self, original_name: str) -> SeededPrincipal:
        """A look-alike role that EC2 instances assume, with a managed and an inline policy."""
        with self._lock:
            name = _look_alike_name(original_name)
            role = self.iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=_EC2_TRUST, Tags=[{"Key": "team", "Value": "web"}]
            )["Role"]
            managed = self._managed_policy(
                "look-alike-app-read",
                [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "*"}],
            )
            self.iam.attach_role_policy(RoleName=name, PolicyArn=managed)
            self.iam.put_role_policy(
                RoleName=name,
                PolicyName="application-access",
                PolicyDocument=_policy([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]),
            )
            return SeededPrincipal(
                kind="role",
                name=name,
                arn=role["Arn"],
                principal_id=role["RoleId"],
                attached_policy_arns=(managed,),
                inline_policy_names=("application-access",),
            )

    def _principal_group(self) -> str:
        """One group every look-alike user joins (containment never touches group membership)."""
        if self._principal_group_name is None:
            # The seeder of another region of this account may have made it (IAM is global).
            with contextlib.suppress(self.iam.exceptions.EntityAlreadyExistsException):
                self.iam.create_group(GroupName="look-alike-deployers")
            self._principal_group_name = "look-alike-deployers"
        return self._principal_group_name

    def _managed_policy(self, name: str, statements: list[dict[str, Any]]) -> str:
        """A customer managed policy, created on first use; returns its ARN."""
        if name not in self._managed_policies:
            try:
                policy = self.iam.create_policy(PolicyName=name, PolicyDocument=_policy(statements))
                arn = policy["Policy"]["Arn"]
            except self.iam.exceptions.EntityAlreadyExistsException:
                # Made by the seeder of another region of this account (IAM is global).
                arn = f"arn:aws:iam::{self.account_id}:policy/{name}"
            self._managed_policies[name] = arn
        return self._managed_policies[name]

    def principal_cloudtrail_events(
        self,
        principal: SeededPrincipal,
        access_key_id: str,
        *,
        session_name: str | None = None,
        source_ip: str = UNUSUAL_IP,
        now: datetime | None = None,
    ) -> list[TrailEvent]:
        """Calls made with the principal's key: a user's usual call from its pipeline, then reconnaissance and
        secret reads from ``source_ip``; a role session's calls from ``source_ip``, outside AWS."""
        now = now or datetime.now(UTC)
        if principal.kind == "user":
            username = principal.name
            identity: dict[str, Any] = {
                "type": "IAMUser",
                "principalId": principal.principal_id,
                "arn": principal.arn,
                "userName": principal.name,
            }
            usual = [
                self._event(
                    "DescribeStacks",
                    "cloudformation.amazonaws.com",
                    now - timedelta(minutes=45),
                    username=username,
                    access_key=access_key_id,
                    read_only=True,
                    resources=(),
                    identity=identity,
                    source_ip=PIPELINE_IP,
                    request={"stackName": "web-app"},
                )
            ]
            calls: list[_Probe] = [
                ("GetCallerIdentity", "sts.amazonaws.com", True, (), {}, None),
                ("ListUsers", "iam.amazonaws.com", True, (), {}, None),
                ("ListSecrets", "secretsmanager.amazonaws.com", True, (), {}, None),
                (
                    "GetSecretValue",
                    "secretsmanager.amazonaws.com",
                    True,
                    (("AWS::SecretsManager::Secret", "prod/db-password"),),
                    {"secretId": "prod/db-password"},
                    None,
                ),
                ("CreateUser", "iam.amazonaws.com", False, (), {"userName": "backup-admin"}, "AccessDenied"),
            ]
        else:
            username = session_name or "look-alike-session"
            usual = []
            identity = self._role_session(
                principal.principal_id,
                principal.arn,
                principal.name,
                username,
                now - timedelta(hours=1),
                delivery="1.0",
            )
            calls = [
                ("GetCallerIdentity", "sts.amazonaws.com", True, (), {}, None),
                ("ListBuckets", "s3.amazonaws.com", True, (), {}, None),
                (
                    "ListAttachedRolePolicies",
                    "iam.amazonaws.com",
                    True,
                    (("AWS::IAM::Role", principal.name),),
                    {"roleName": principal.name},
                    None,
                ),
                ("CreateUser", "iam.amazonaws.com", False, (), {"userName": "backup-admin"}, "AccessDenied"),
            ]
        minutes = range(20, 20 - 3 * len(calls), -3)
        return usual + [
            self._event(
                name,
                source,
                now - timedelta(minutes=minute),
                username=username,
                access_key=access_key_id,
                read_only=read_only,
                resources=resources,
                identity=identity,
                source_ip=source_ip,
                request=request,
                error_code=error_code,
                user_agent="aws-cli/2.15.0 Python/3.11.6 Linux/5.10 botocore/2.4.5",
            )
            for minute, (name, source, read_only, resources, request, error_code) in zip(
                minutes, calls, strict=True
            )
        ]

    def _map_principal(
        self, event: Mapping[str, Any], key: _PrincipalKey, source_ip: str | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Look-alikes of the user or role behind an access key finding, and of the key itself."""
        kind, original_name, original_key, original_id = key
        with self._lock:
            known = self._principals.values()
            if any(original_name == p.name or original_key in p.access_keys.values() for p in known):
                # The alert already names a look-alike (it was mapped before): it is used as it is.
                return copy.deepcopy(dict(event)), {}
            seeded = self._principals.get((kind, original_name))
            if seeded is None:
                seeded = self.user(original_name) if kind == "user" else self.role(original_name)
            if original_key and original_key not in seeded.access_keys:
                if kind == "user":
                    look_alike_key = self.iam.create_access_key(UserName=seeded.name)["AccessKey"][
                        "AccessKeyId"
                    ]
                else:
                    # Temporary credentials exist only in STS: a fresh key id stands for the stolen one.
                    look_alike_key = "ASIA" + secrets.token_hex(8).upper()
                seeded = replace(seeded, access_keys={**seeded.access_keys, original_key: look_alike_key})
                self.trail.add(
                    self.principal_cloudtrail_events(
                        seeded,
                        look_alike_key,
                        session_name=original_id.partition(":")[2] or None,
                        source_ip=source_ip or UNUSUAL_IP,
                    )
                )
            self._principals[kind, original_name] = seeded
        ids = {original_key: seeded.access_keys[original_key]} if original_key else {}
        if original_id:
            # A role session's principal id is "<role id>:<session name>"; only the role id part is IAM's.
            ids[original_id.partition(":")[0] if kind == "role" else original_id] = seeded.principal_id
        ids = {original: new for original, new in ids.items() if original != new}
        names = {original_name: seeded.name}
        rewritten = _rewrite(_rename(copy.deepcopy(dict(event)), names), ids)
        return rewritten, {**names, **ids}

    def seeded_principal(self, original_name: str, kind: PrincipalKind = "user") -> SeededPrincipal:
        """The look-alike made for an alert's user (or role) name."""
        with self._lock:
            return self._principals[kind, original_name]

    # Alerts

    def map_alert(
        self, event: Mapping[str, Any], *, volumes: int = 3, network_interfaces: int | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A copy of ``event`` naming look-alike resources, and ``{original_id: sandbox_id}``.

        Whatever the alert names that can be copied is; fields that are missing, null or of the wrong type
        are left out. :class:`SeedError` when the sandbox refuses a look-alike, or the alert nests too deeply
        to copy.
        """
        try:
            return self._map_alert(event, volumes, network_interfaces)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise SeedError(
                f"the sandbox refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
            ) from exc
        except RecursionError as exc:
            raise SeedError("the alert nests too deeply to copy") from exc

    def _map_alert(
        self, event: Mapping[str, Any], volumes: int, network_interfaces: int | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        details = _instance_details(event)
        original_id = _id(details.get("instanceId")) if details is not None else None
        if details is None or original_id is None:
            return self._map_principals(event)
        with self._lock:
            if any(seeded.instance_id == original_id for seeded, _ in self._instances.values()):
                # The alert already names a look-alike (it was mapped before): it is used as it is.
                return copy.deepcopy(dict(event)), {}
            if original_id not in self._instances:
                self._instances[original_id] = self._look_alike(
                    original_id, details, volumes, network_interfaces
                )
            _, mapping = self._instances[original_id]
        return _rewrite(copy.deepcopy(dict(event)), mapping), dict(mapping)

    def _map_principals(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Look-alikes of every user, role and key the alert names, one after the other."""
        mapped, mapping = copy.deepcopy(dict(event)), {}
        source_ip = _remote_ip(event)
        for key in _principal_keys(event):
            mapped, ids = self._map_principal(mapped, key, source_ip)
            mapping.update(ids)
        return mapped, mapping

    def _look_alike(
        self, original_id: str, details: Mapping[str, Any], volumes: int, network_interfaces: int | None
    ) -> tuple[SeededInstance, dict[str, str]]:
        interfaces = _dicts(details.get("networkInterfaces"))[:MAX_INTERFACES]
        primary = interfaces[0] if interfaces else {}
        groups = {
            group_id: _text(_xml(group.get("groupName"))) or group_id
            for group in _dicts(primary.get("securityGroups"))
            if (group_id := _id(group.get("groupId")))
        }
        vpc_key, subnet_key = _id(primary.get("vpcId")), _id(primary.get("subnetId"))
        network = NetworkSpec(
            vpc_key=vpc_key or NetworkSpec.vpc_key,
            subnet_key=subnet_key or NetworkSpec.subnet_key,
            security_groups=tuple(groups.items()) or NetworkSpec.security_groups,
            private_ip=_text(primary.get("privateIpAddress")),
        )
        profile = details.get("iamInstanceProfile")
        profile = profile if isinstance(profile, dict) else {}
        profile_arn = _id(profile.get("arn"))
        profile_name = _IAM_NAME_UNSAFE.sub("-", (profile_arn or "").rsplit("/", 1)[-1])[:128]
        tags = {
            key: _xml(value)
            for tag in _dicts(details.get("tags"))
            if (key := _text(_xml(tag.get("key")))) and isinstance(value := tag.get("value"), str)
        }
        instance_type = details.get("instanceType")
        if not (isinstance(instance_type, str) and _INSTANCE_TYPE.fullmatch(instance_type)):
            instance_type = "t3.micro"
        seeded = self.instance(
            tags=dict(itertools.islice(tags.items(), MAX_TAGS)),
            instance_type=instance_type,
            volumes=volumes,
            network_interfaces=network_interfaces or max(1, len(interfaces)),
            network=network,
            profile_name=profile_name or "web-app-profile",
        )
        mapping: dict[str, str] = {original_id: seeded.instance_id}
        for original, look_alike in zip(interfaces, seeded.network_interface_ids, strict=False):
            if eni_id := _id(original.get("networkInterfaceId")):
                mapping[eni_id] = look_alike
        if vpc_key:
            mapping[vpc_key] = seeded.vpc_id
        if subnet_key:
            mapping[subnet_key] = seeded.subnet_id
        mapping.update((key, self.security_group(key, seeded.vpc_id, name)) for key, name in groups.items())
        if profile_arn and profile_arn != seeded.instance_profile_arn:
            mapping[profile_arn] = seeded.instance_profile_arn
        if profile_id := _id(profile.get("id")):
            mapping[profile_id] = seeded.instance_profile_id
        return seeded, {original: new for original, new in mapping.items() if original != new}

    def seeded(self, original_instance_id: str) -> SeededInstance:
        """The look-alike made for an alert's instance id."""
        with self._lock:
            return self._instances[original_instance_id][0]

    # Fleets

    def fleet(
        self,
        seeded: SeededInstance,
        *,
        autoscaling: Any,
        elbv2: Any,
        elb: Any | None = None,
        siblings: int = 1,
        max_size: int = 4,
    ) -> SeededFleet:
        """Put ``seeded`` in an Auto Scaling group, behind a load balancer's target group.

        Built the way a fleet runs: a launch template like the instance, a group that launches ``siblings``
        instances of its own, a target group behind an Application Load Balancer (and, when ``elb`` is
        given, a classic load balancer) attached to the group; then the instance is attached, which raises
        the desired capacity by one and registers it with the group's load balancers. ``max_size`` must
        leave room for the replacement the group launches when the instance is detached without lowering
        its capacity, and for the instance rejoining on release.
        """
        if siblings < 0 or max_size < siblings + 2:
            raise ValueError("max_size must leave room for the siblings, the instance and its replacement")
        # 30 characters with moto's ids: within every name limit (load balancers and target groups: 32).
        name = f"look-alike-{seeded.instance_id}"
        described = self.ec2.describe_instances(InstanceIds=[seeded.instance_id])["Reservations"][0][
            "Instances"
        ][0]
        template_id = self.ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={
                "ImageId": FIXED_AMI,
                "InstanceType": described["InstanceType"],
                "IamInstanceProfile": {"Arn": seeded.instance_profile_arn},
                "SecurityGroupIds": list(seeded.security_group_ids),
            },
        )["LaunchTemplate"]["LaunchTemplateId"]
        # An Application Load Balancer needs subnets in two zones: the instance's, and one more (shared
        # by every fleet in the VPC).
        with self._lock:
            subnets = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [seeded.vpc_id]}])[
                "Subnets"
            ]
            other_zone = [s["SubnetId"] for s in subnets if s["AvailabilityZone"] != seeded.availability_zone]
            if other_zone:
                second_subnet = other_zone[0]
            else:
                second_subnet = self.ec2.create_subnet(
                    VpcId=seeded.vpc_id,
                    CidrBlock=self._free_block(seeded.vpc_id),
                    AvailabilityZone=f"{self.region}b",
                    TagSpecifications=[_tags("subnet", {"Name": "look-alike load balancer subnet"})],
                )["Subnet"]["SubnetId"]
        target_group_arn = elbv2.create_target_group(
            Name=name,
            Protocol="HTTPS",
            Port=443,
            VpcId=seeded.vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTPS",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]
        load_balancer_arn = elbv2.create_load_balancer(
            Name=name,
            Subnets=[seeded.subnet_id, second_subnet],
            SecurityGroups=list(seeded.security_group_ids),
            Scheme="internet-facing",
            Type="application",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.create_listener(
            LoadBalancerArn=load_balancer_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group_arn}],
        )
        classic = None
        if elb is not None:
            classic = name
            elb.create_load_balancer(
                LoadBalancerName=classic,
                Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 443, "InstancePort": 443}],
                Subnets=[seeded.subnet_id],
                SecurityGroups=list(seeded.security_group_ids),
            )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
            MinSize=siblings,
            MaxSize=max_size,
            DesiredCapacity=siblings,
            VPCZoneIdentifier=seeded.subnet_id,
            TargetGroupARNs=[target_group_arn],
            LoadBalancerNames=[classic] if classic else [],
            HealthCheckType="ELB",
            HealthCheckGracePeriod=300,
            Tags=[
                {
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                    "Key": key,
                    "Value": value,
                    "PropagateAtLaunch": True,
                }
                for key, value in seeded.tags.items()
            ],
        )
        autoscaling.attach_instances(AutoScalingGroupName=name, InstanceIds=[seeded.instance_id])
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return SeededFleet(
            asg_name=name,
            launch_template_id=template_id,
            instance_id=seeded.instance_id,
            sibling_instance_ids=tuple(
                sorted(i["InstanceId"] for i in group["Instances"] if i["InstanceId"] != seeded.instance_id)
            ),
            desired_capacity=group["DesiredCapacity"],
            target_group_arns=(target_group_arn,),
            load_balancer_arn=load_balancer_arn,
            classic_load_balancer_name=classic,
        )


def _instance_details(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The instance an alert names, in the shape of a GuardDuty event's ``instanceDetails``: from that, from
    GuardDuty's GetFindings form (``InstanceDetails``), or from a Security Hub ``AwsEc2Instance`` resource
    (EventBridge or GetFindings form)."""
    detail = event.get("detail")
    resource = detail.get("resource") if isinstance(detail, dict) else None
    details = resource.get("instanceDetails") if isinstance(resource, dict) else None
    if isinstance(details, dict):
        return details
    findings = _dicts(_path(event, "detail", "findings")) or _dicts(event.get("Findings"))
    for finding in findings[:1]:
        if isinstance(guardduty := _path(finding, "Resource", "InstanceDetails"), dict):
            camel: dict[str, Any] = _camel(guardduty)
            return camel
        for entry in _dicts(finding.get("Resources")):
            if entry.get("Type") == "AwsEc2Instance":
                return _security_hub_instance(entry)
    return None


def _camel(value: Any) -> Any:
    """GetFindings' PascalCase keys as EventBridge spells them (``InstanceId`` -> ``instanceId``)."""
    if isinstance(value, dict):
        return {
            (key[:1].lower() + key[1:] if isinstance(key, str) else key): _camel(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _security_hub_instance(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A Security Hub ``AwsEc2Instance`` resource as GuardDuty's ``instanceDetails`` (it lists no security
    groups: the look-alike gets the sandbox's)."""
    details = _path(entry, "Details", "AwsEc2Instance")
    details = details if isinstance(details, dict) else {}
    listed = details.get("IpV4Addresses")
    addresses = [a for a in (listed if isinstance(listed, list) else []) if _private_ipv4(_text(a))]
    interface = {
        "vpcId": details.get("VpcId"),
        "subnetId": details.get("SubnetId"),
        "privateIpAddress": addresses[0] if addresses else None,
    }
    tags = entry.get("Tags")
    return {
        "instanceId": _after(entry.get("Id"), "instance/"),
        "instanceType": details.get("Type"),
        "networkInterfaces": [interface],
        "iamInstanceProfile": {"arn": details.get("IamInstanceProfileArn")},
        "tags": [{"key": k, "value": v} for k, v in tags.items()] if isinstance(tags, dict) else [],
    }


def _principal_keys(event: Mapping[str, Any]) -> list[_PrincipalKey]:
    """The users, roles and keys an alert names: GuardDuty's ``accessKeyDetails``, or Security Hub's
    ``AwsIamAccessKey`` and ``AwsIamUser`` resources (GetFindings output or an EventBridge event). Root and
    federated principals are never seeded."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, dict) else {}
    resource = detail.get("resource")
    key = resource.get("accessKeyDetails") if isinstance(resource, dict) else None
    found = []
    if isinstance(key, dict):
        found.append(
            (key.get("userType"), key.get("userName"), key.get("accessKeyId"), key.get("principalId"))
        )
    findings = event["Findings"] if "Findings" in event else detail.get("findings")
    for entry in (r for finding in _dicts(findings) for r in _dicts(finding.get("Resources"))):
        details = entry.get("Details")
        details = details if isinstance(details, dict) else {}
        if entry.get("Type") == "AwsIamAccessKey" and isinstance(key := details.get("AwsIamAccessKey"), dict):
            # UserName is the deprecated field, from before keys of other principals were reported.
            kind = key.get("PrincipalType") or ("IAMUser" if key.get("UserName") else None)
            key_id = key.get("AccessKeyId") or _after(entry.get("Id"), "AWS::IAM::AccessKey:")
            name = _text(key.get("PrincipalName")) or key.get("UserName")
            found.append((kind, name, key_id, key.get("PrincipalId")))
        elif entry.get("Type") == "AwsIamUser":
            user = details.get("AwsIamUser")
            user = user if isinstance(user, dict) else {}
            name = _text(user.get("UserName")) or _after(entry.get("Id"), ":user/")
            found.append(("IAMUser", name, None, user.get("UserId")))
    return [
        ("user" if kind == "IAMUser" else "role", name, _id(key_id) or "", _id(principal_id) or "")
        for kind, name, key_id, principal_id in found
        if isinstance(kind, str) and kind in _PRINCIPAL_TYPES and isinstance(name, str) and name.strip()
    ]


def _after(value: Any, marker: str) -> str | None:
    """The name after ``marker`` in a resource id: ``AWS::IAM::AccessKey:AKIA…``, ``…:user/path/name``."""
    if not isinstance(value, str) or marker not in value:
        return None
    return value.rsplit(marker, 1)[-1].rsplit("/", 1)[-1] or None


def _remote_ip(event: Mapping[str, Any]) -> str | None:
    """The address the finding saw the API calls come from (GuardDuty's, or Security Hub's copy of it)."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, dict) else {}
    findings = _dicts(event["Findings"] if "Findings" in event else detail.get("findings"))
    candidates = [
        _path(detail, "service", "action", "awsApiCallAction", "remoteIpDetails", "ipAddressV4"),
        *(_path(f, "Action", "AwsApiCallAction", "RemoteIpDetails", "IpAddressV4") for f in findings),
        *(_path(f, "ProductFields", f"{_GUARDDUTY_FIELDS}remoteIpDetails/ipAddressV4") for f in findings),
    ]
    return next((address for address in map(_text, candidates) if address), None)


def _path(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str | None:
    """``value`` if it is text that is not blank: findings put numbers, nulls and lists where text belongs."""
    return value if isinstance(value, str) and value.strip() else None


def _id(value: Any) -> str | None:
    """``value`` if it can stand for an id: four printable ASCII characters or more, without spaces. Ids are
    replaced inside every string of the event, where a number, a blank or a word would match far too much."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _xml(value: Any) -> Any:
    """Text without the characters XML cannot carry; anything else as it is."""
    return _NOT_XML.sub("", value) if isinstance(value, str) else value


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a list; a null, or a string or object where a list belongs, holds none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _look_alike_name(original: str) -> str:
    """A fresh IAM name that still reads like the original (IAM allows 64 characters of ``\\w+=,.@-``)."""
    base = _IAM_NAME_UNSAFE.sub("-", original)[:50] or "look-alike"
    return f"{base}-{secrets.token_hex(3)}"


def _rename(value: Any, names: Mapping[str, str]) -> Any:
    """Replace each original name where it stands as a whole name, never inside a longer one."""
    if isinstance(value, dict):
        return {key: _rename(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_rename(item, names) for item in value]
    if isinstance(value, str):
        for original in sorted(names, key=len, reverse=True):
            # A name ends at anything IAM does not allow in one; "." and "," also end a sentence.
            value = re.sub(rf"(?<![\w+=,.@-]){re.escape(original)}(?![\w+=@-])", names[original], value)
        return value
    return value


def _policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _rewrite(value: Any, mapping: Mapping[str, str]) -> Any:
    """Replace every original id inside every string (longest first, so no id is cut by a shorter one)."""
    if isinstance(value, dict):
        return {key: _rewrite(item, mapping) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, mapping) for item in value]
    if isinstance(value, str):
        for original in sorted(mapping, key=len, reverse=True):
            value = value.replace(original, mapping[original])
        return value
    return value


def _private_ipv4(value: str | None) -> ipaddress.IPv4Address | None:
    """The alert's private address, if it is one a VPC can hold."""
    try:
        address = ipaddress.ip_address(value or "")
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv4Address) and address.is_private else None


def _cidrs(address: ipaddress.IPv4Address | None) -> tuple[str, str]:
    """The VPC (/16) and subnet (/24) around the alert's private address, so the look-alike keeps it."""
    if address is None:
        return "10.0.0.0/16", "10.0.1.0/24"
    return (
        str(ipaddress.ip_network(f"{address}/16", strict=False)),
        str(ipaddress.ip_network(f"{address}/24", strict=False)),
    )


def _role_name(profile_name: str) -> str:
    base = profile_name.removesuffix("-profile")
    return f"{base}-role"[:64]


def _data_devices() -> Iterator[str]:
    for letter in "fghijklmnop":
        yield f"/dev/sd{letter}"


def _tags(resource_type: str, tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "ResourceType": resource_type,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }


@dataclass(frozen=True)
class SeededFleet:
    """An Auto Scaling group holding a look-alike instance, as :meth:`Seeder.fleet` left it."""

    asg_name: str
    launch_template_id: str
    instance_id: str
    sibling_instance_ids: tuple[str, ...]
    """The instances the group launched itself, before the look-alike joined."""
    desired_capacity: int
    target_group_arns: tuple[str, ...]
    load_balancer_arn: str
    """The Application Load Balancer whose listener forwards to the target group."""
    classic_load_balancer_name: str | None = None
