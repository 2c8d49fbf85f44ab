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
