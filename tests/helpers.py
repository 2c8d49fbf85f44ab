"""Shared test helpers."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.client
import botocore.exceptions

from sandbox.core import Sandbox
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.containment import iam as containment_iam
from tourniquet.containment.handler import contain
from tourniquet.intake.model import Alert
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet.state import Diagnostic, Scope

EVENTS = Path(__file__).parent / "events"
# What a handler reads of its Lambda context (Powertools logs the function's name and request id).
LAMBDA_CONTEXT = SimpleNamespace(
    function_name="tourniquet-test",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-test",
    aws_request_id="00000000-0000-0000-0000-000000000001",
)


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json``."""
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


@functools.cache
def _session() -> boto3.session.Session:
    # Made on first use (inside a moto mock); a fresh session per test would reload the large EC2 model.
    return boto3.session.Session()


@functools.cache
def moto_client(service: str, region: str = "eu-west-1") -> Any:
    """A boto3 client for arranging and inspecting moto state in tests (the code under test has its own).

    Made once per service and region: creating a client costs tens of milliseconds, and moto intercepts a
    client's calls whenever a mock is active, whichever test made it.
    """
    return _session().client(service, region_name=region)


REGION = "eu-west-1"
TABLE = "tourniquet-test"

# One of the images moto bundles for every Region: launching with it never needs the slow describe_images.
MOTO_AMI_ID = "ami-12c6146b"


@dataclass(frozen=True)
class Ec2Lab:
    """An instance launched in moto with its VPC, subnet, original security group, volumes and interfaces."""

    instance_id: str
    vpc_id: str
    subnet_id: str
    group_id: str
    volume_ids: tuple[str, ...]
    devices: tuple[str, ...]
    eni_ids: tuple[str, ...]


def launch_instance(
    *, tags: dict[str, str] | None = None, instance_profile: str | None = None, region: str = "eu-west-1"
) -> Ec2Lab:
    """A running instance with three EBS volumes (two deleted on termination) and two network interfaces."""
    ec2 = moto_client("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{region}a")[
        "Subnet"
    ]["SubnetId"]
    group_id = ec2.create_security_group(GroupName="web-app", Description="web app", VpcId=vpc_id)["GroupId"]
    extra: dict[str, Any] = {}
    if tags:
        extra["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    if instance_profile:
        extra["IamInstanceProfile"] = {"Name": instance_profile}
    instance = ec2.run_instances(
        ImageId=MOTO_AMI_ID,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [group_id]}],
        BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20, "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 30, "DeleteOnTermination": False}},
        ],
        InstanceInitiatedShutdownBehavior="terminate",
        **extra,
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    second = ec2.create_network_interface(SubnetId=subnet_id, Groups=[group_id])["NetworkInterface"]
    ec2.attach_network_interface(
        NetworkInterfaceId=second["NetworkInterfaceId"], InstanceId=instance_id, DeviceIndex=1
    )
    mappings = instance["BlockDeviceMappings"]
    return Ec2Lab(
        instance_id=instance_id,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        group_id=group_id,
        volume_ids=tuple(m["Ebs"]["VolumeId"] for m in mappings),
        devices=tuple(m["DeviceName"] for m in mappings),
        eni_ids=(instance["NetworkInterfaces"][0]["NetworkInterfaceId"], second["NetworkInterfaceId"]),
    )


@dataclass(frozen=True)
class ExposedLab:
    """An instance in an Auto Scaling group, a target group and a classic load balancer, with an Elastic IP
    and an instance profile: everything that can reach it or that it may use."""

    lab: Ec2Lab
    group: str
    target_group_arn: str
    ip_target_group_arn: str
    load_balancer: str
    allocation_id: str
    profile_arn: str
    role: str


def expose(lab: Ec2Lab, *, profile: str = "web-app") -> ExposedLab:
    ec2, autoscaling, elbv2, elb, iam = (
        moto_client(s) for s in ("ec2", "autoscaling", "elbv2", "elb", "iam")
    )
    ec2.create_launch_template(
        LaunchTemplateName="web-app", LaunchTemplateData={"ImageId": MOTO_AMI_ID, "InstanceType": "m5.large"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-app",
        LaunchTemplate={"LaunchTemplateName": "web-app"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        VPCZoneIdentifier=lab.subnet_id,
    )
    autoscaling.attach_instances(InstanceIds=[lab.instance_id], AutoScalingGroupName="web-app")
    target_group = elbv2.create_target_group(
        Name="web-app", Protocol="HTTP", Port=80, VpcId=lab.vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": lab.instance_id, "Port": 8080}])
    ip_group = elbv2.create_target_group(
        Name="web-app-ip", Protocol="HTTP", Port=80, VpcId=lab.vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    private_ip = ec2.describe_network_interfaces(NetworkInterfaceIds=[lab.eni_ids[1]])["NetworkInterfaces"][
        0
    ]["PrivateIpAddress"]
    elbv2.register_targets(TargetGroupArn=ip_group, Targets=[{"Id": private_ip, "Port": 9090}])
    elb.create_load_balancer(
        LoadBalancerName="web-app-classic",
        Listeners=[{"Protocol": "http", "LoadBalancerPort": 80, "InstancePort": 80}],
        AvailabilityZones=[f"{REGION}a"],
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName="web-app-classic", Instances=[{"InstanceId": lab.instance_id}]
    )
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=lab.vpc_id)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, NetworkInterfaceId=lab.eni_ids[0])
    iam.create_role(RoleName=profile, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    profile_arn = iam.create_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=profile)
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Name": profile}, InstanceId=lab.instance_id)
    return ExposedLab(
        lab, "web-app", target_group, ip_group, "web-app-classic", allocation, profile_arn, profile
    )


def contain_request(
    actions: list[str],
    target: dict[str, Any],
    *,
    incident_id: str,
    mode: str = "auto",
    dry_run: bool = False,
    diagnostics: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The containment step's input as the workflow hands it over: a plan whose automatic (``auto``) or
    approved actions are ``actions``, on ``target``."""
    plan = {
        "playbook": "test",
        "target": target,
        "dry_run": dry_run,
        "automatic" if mode == "auto" else "approval": actions,
    }
    request: dict[str, Any] = {"mode": mode, "incident_id": incident_id, "plan": plan}
    if diagnostics is not None:
        request["diagnostics"] = diagnostics
    return request


def contain_one(request: dict[str, Any]) -> dict[str, Any]:
    """The containment handler's result for a request of one action."""
    [result] = contain(request, LAMBDA_CONTEXT)
    return result


def plan_state(alert: Alert, diagnostics: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The plan PlanResponse puts in the workflow state for ``alert`` and these diagnostics (as JSON)."""
    return make_plan(alert, [Diagnostic.model_validate(d) for d in diagnostics], settings).as_state()


class SandboxPool:
    """At most one sandbox runs in a process (moto, the environment and the patches are process-wide).

    Modules that ask for the same kind of sandbox share the running one; asking for another kind stops it
    and starts that one.
    """

    def __init__(self) -> None:
        self._kind: str | None = None
        self._running: Sandbox | None = None

    def get(self, kind: str, make: Callable[[], Sandbox]) -> Sandbox:
        if self._running is None or self._kind != kind:
            self.stop()
            self._running = make().start()
            self._kind = kind
        return self._running

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
        self._running = self._kind = None


TEST_SCOPE = Scope(account="123456789012", region="eu-west-1")


def member_client(service: str, incident_id: str, scope: Scope = TEST_SCOPE) -> Any:
    """The client the code under test gets for ``service`` while it acts for ``incident_id`` in ``scope``
    (the same object, so a test can stub or patch it)."""
    with tourniquet_aws.acting_in(scope, incident_id=incident_id, purpose="diagnose"):
        return tourniquet_aws.client(service)


def refuse_calls(monkeypatch: Any, operation: str, code: str) -> None:
    """Every client, whoever made it, answers ``operation`` (``AssumeRole``) with the error ``code``."""
    original = botocore.client.BaseClient._make_api_call

    def refusing(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name == operation:
            error = {"Error": {"Code": code, "Message": f"{operation} refused by the test"}}
            raise botocore.exceptions.ClientError(error, operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refusing)


def open_incident(incident_id: str) -> None:
    """An open incident item, as Deduplicate leaves it (without its alert)."""
    store.table().put_item(
        Item={
            "pk": store.incident_pk(incident_id),
            "sk": store.INCIDENT_SK,
            "incident_id": incident_id,
            "status": "open",
        }
    )


MEMBER_ACCOUNT = "111111111111"


def create_deny_all_policy(iam: Any) -> str:
    """The member stack's deny-all policy, in the account of the ``iam`` client: containment attaches it by
    its ARN. Returns the ARN."""
    return str(
        iam.create_policy(
            PolicyName=containment_iam.DENY_ALL_POLICY_NAME,
            Path=containment_iam.DENY_ALL_POLICY_PATH,
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
            ),
        )["Policy"]["Arn"]
    )


def member_account_client(service: str, account: str = MEMBER_ACCOUNT, region: str = REGION) -> Any:
    """A client acting in another account of moto's (moto puts what assumed credentials create in the role's
    own account), for arranging and inspecting a member account in tests."""
    credentials = moto_client("sts", region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="tests"
    )["Credentials"]
    return _session().client(  # type: ignore[call-overload]
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


# (service signing name, operation, params) of one AWS call.
Recorded = tuple[str, str, dict[str, Any]]


def recording_calls(calls: list[Recorded]) -> Callable[..., Any]:
    """botocore's API call, noting ``(service prefix, operation, params)`` of every call, on any thread.
    Patch it in with ``monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))``."""
    original = botocore.client.BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append((client.meta.service_model.signing_name, operation, params))
        return original(client, operation, params)

    return record
