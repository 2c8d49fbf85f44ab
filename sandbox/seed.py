"""Look-alike resources for an alert, so the workflow has something real to diagnose and contain.

:meth:`Seeder.map_alert` reads the entities a GuardDuty EC2 finding names (instance, ENIs, subnet, VPC,
security groups, instance profile), creates a look-alike of each in the sandbox, and returns a copy of the
event with the ids rewritten plus the mapping ``{original_id: sandbox_id}``. The same original id always
maps to the same look-alike, so a re-sent finding names the same instance. CloudTrail events are seeded for
each new instance: its launch, and a few calls made with its role's credentials from an unusual address.

A finding about an access key (``accessKeyDetails``) gets the principal behind it, under a fresh name: an
IAM user with a real access key, console login, a group, a managed and an inline policy; or a role that EC2
assumes, with a managed and an inline policy, and a fresh session key id. The key's calls are seeded too.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sandbox.cloudtrail import TrailEvent, TrailStore

# An Amazon Linux AMI that moto ships in every region: launching by id avoids the slow describe_images.
FIXED_AMI = "ami-760aaa0f"
UNUSUAL_IP = "198.51.100.23"
PIPELINE_IP = "203.0.113.10"
_EC2_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


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
        self._subnets: dict[str, tuple[str, str]] = {}
        self._groups: dict[str, str] = {}
        self._instances: dict[str, tuple[SeededInstance, dict[str, str]]] = {}
        self._private_ips: set[str] = set()
        self._principals: dict[tuple[PrincipalKind, str], SeededPrincipal] = {}
        self._principal_group_name: str | None = None
        self._managed_policies: dict[str, str] = {}

    # Building blocks

    def _claim_ip(self, address: str) -> bool:
        with self._lock:
            if address in self._private_ips:
                return False
            self._private_ips.add(address)
            return True

    def vpc(self, key: str, cidr: str = "10.0.0.0/16") -> str:
        with self._lock:
            if key not in self._vpcs:
                vpc_id = self.ec2.create_vpc(
                    CidrBlock=cidr, TagSpecifications=[_tags("vpc", {"Name": f"look-alike {key}"})]
                )["Vpc"]["VpcId"]
                self._vpcs[key] = vpc_id
            return self._vpcs[key]

    def subnet(self, key: str, vpc_id: str, cidr: str = "10.0.1.0/24") -> tuple[str, str]:
        """``(subnet_id, availability_zone)``."""
        with self._lock:
            if key not in self._subnets:
                zone = f"{self.region}a"
                subnet_id = self.ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=cidr,
                    AvailabilityZone=zone,
                    TagSpecifications=[_tags("subnet", {"Name": f"look-alike {key}"})],
                )["Subnet"]["SubnetId"]
                self._subnets[key] = (subnet_id, zone)
            return self._subnets[key]

    def security_group(self, key: str, vpc_id: str, name: str) -> str:
        """A group like an application's: HTTPS from anywhere, SSH from the VPC, all egress."""
        with self._lock:
            if key not in self._groups:
                group_id = self.ec2.create_security_group(
                    GroupName=name, Description=f"look-alike of {key}", VpcId=vpc_id
                )["GroupId"]
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
                self._groups[key] = group_id
            return self._groups[key]

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
        vpc_cidr, subnet_cidr = _cidrs(network.private_ip)
        with self._lock:
            vpc_id = self.vpc(network.vpc_key, vpc_cidr)
            subnet_id, zone = self.subnet(network.subnet_key, vpc_id, subnet_cidr)
            group_ids = tuple(self.security_group(key, vpc_id, name) for key, name in network.security_groups)
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
            network.private_ip
            and ipaddress.ip_address(network.private_ip) in ipaddress.ip_network(subnet_cidr)
            and self._claim_ip(network.private_ip)
        ):
            # The alert's own address where it is free; two alerts naming one address get two instances.
            launch["PrivateIpAddress"] = network.private_ip
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
        self, event: Mapping[str, Any], key: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Look-alikes of the user or role behind an access key finding, and of the key itself."""
        kind: PrincipalKind = "user" if key.get("userType") == "IAMUser" else "role"
        original_name = str(key["userName"])
        original_key = str(key.get("accessKeyId") or "")
        original_id = str(key.get("principalId") or "")
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
                        source_ip=_remote_ip(event) or UNUSUAL_IP,
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
        """A copy of ``event`` naming look-alike resources, and ``{original_id: sandbox_id}``."""
        details = _instance_details(event)
        if details is None or not details.get("instanceId"):
            key = _access_key_details(event)
            if key is not None:
                return self._map_principal(event, key)
            return copy.deepcopy(dict(event)), {}
        original_id = str(details["instanceId"])
        with self._lock:
            if any(seeded.instance_id == original_id for seeded, _ in self._instances.values()):
                # The alert already names a look-alike (it was mapped before): it is used as it is.
                return copy.deepcopy(dict(event)), {}
            if original_id not in self._instances:
                self._instances[original_id] = self._look_alike(details, volumes, network_interfaces)
            _, mapping = self._instances[original_id]
        return _rewrite(copy.deepcopy(dict(event)), mapping), dict(mapping)

    def _look_alike(
        self, details: Mapping[str, Any], volumes: int, network_interfaces: int | None
    ) -> tuple[SeededInstance, dict[str, str]]:
        interfaces = [eni for eni in details.get("networkInterfaces") or [] if isinstance(eni, dict)]
        primary = interfaces[0] if interfaces else {}
        groups = tuple(
            (str(group.get("groupId")), str(group.get("groupName") or group.get("groupId")))
            for group in primary.get("securityGroups") or []
            if group.get("groupId")
        )
        network = NetworkSpec(
            vpc_key=str(primary.get("vpcId") or NetworkSpec.vpc_key),
            subnet_key=str(primary.get("subnetId") or NetworkSpec.subnet_key),
            security_groups=groups or NetworkSpec().security_groups,
            private_ip=primary.get("privateIpAddress"),
        )
        profile_arn = str((details.get("iamInstanceProfile") or {}).get("arn") or "")
        profile_name = profile_arn.rsplit("/", 1)[-1] if profile_arn else "web-app-profile"
        tags = {
            str(tag["key"]): str(tag["value"])
            for tag in details.get("tags") or []
            if isinstance(tag, dict) and "key" in tag and "value" in tag
        }
        seeded = self.instance(
            tags=tags,
            instance_type=str(details.get("instanceType") or "t3.micro"),
            volumes=volumes,
            network_interfaces=network_interfaces or max(1, len(interfaces)),
            network=network,
            profile_name=profile_name,
        )
        mapping: dict[str, str] = {str(details["instanceId"]): seeded.instance_id}
        for original, look_alike in zip(interfaces, seeded.network_interface_ids, strict=False):
            if original.get("networkInterfaceId"):
                mapping[str(original["networkInterfaceId"])] = look_alike
        if primary.get("vpcId"):
            mapping[str(primary["vpcId"])] = seeded.vpc_id
        if primary.get("subnetId"):
            mapping[str(primary["subnetId"])] = seeded.subnet_id
        for (key, _), group_id in zip(groups, seeded.security_group_ids, strict=True):
            mapping[key] = group_id
        if profile_arn and profile_arn != seeded.instance_profile_arn:
            mapping[profile_arn] = seeded.instance_profile_arn
        profile_id = (details.get("iamInstanceProfile") or {}).get("id")
        if profile_id:
            mapping[str(profile_id)] = seeded.instance_profile_id
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
                vpc_cidr = self.ec2.describe_vpcs(VpcIds=[seeded.vpc_id])["Vpcs"][0]["CidrBlock"]
                taken = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
                free = next(
                    block
                    for block in ipaddress.ip_network(vpc_cidr).subnets(new_prefix=24)
                    if not any(block.overlaps(used) for used in taken)
                )
                second_subnet = self.ec2.create_subnet(
                    VpcId=seeded.vpc_id,
                    CidrBlock=str(free),
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
    detail = event.get("detail")
    resource = detail.get("resource") if isinstance(detail, dict) else None
    details = resource.get("instanceDetails") if isinstance(resource, dict) else None
    return details if isinstance(details, dict) else None


def _access_key_details(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The finding's access key, when it names a user or an assumed role (root is never seeded)."""
    detail = event.get("detail")
    resource = detail.get("resource") if isinstance(detail, dict) else None
    key = resource.get("accessKeyDetails") if isinstance(resource, dict) else None
    if not isinstance(key, dict) or key.get("userType") not in _PRINCIPAL_TYPES:
        return None
    return key if isinstance(key.get("userName"), str) and key["userName"] else None


def _remote_ip(event: Mapping[str, Any]) -> str | None:
    """The address the finding saw the API calls come from."""
    detail = event.get("detail")
    service = detail.get("service") if isinstance(detail, dict) else None
    action = service.get("action") if isinstance(service, dict) else None
    call = action.get("awsApiCallAction") if isinstance(action, dict) else None
    remote = call.get("remoteIpDetails") if isinstance(call, dict) else None
    address = remote.get("ipAddressV4") if isinstance(remote, dict) else None
    return address if isinstance(address, str) and address else None


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


def _cidrs(private_ip: str | None) -> tuple[str, str]:
    """The VPC (/16) and subnet (/24) around the alert's private address, so the look-alike keeps it."""
    if private_ip:
        try:
            address = ipaddress.ip_address(private_ip)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv4Address) and address.is_private:
            return (
                str(ipaddress.ip_network(f"{address}/16", strict=False)),
                str(ipaddress.ip_network(f"{address}/24", strict=False)),
            )
    return "10.0.0.0/16", "10.0.1.0/24"


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
