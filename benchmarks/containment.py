"""The automatic containment step in process against moto: its AWS calls and time to isolation, and the
evidence for its order (the snapshots requested before isolation, or after it).

    python -m benchmarks.containment [--runs N]

For 1 to 8 EBS volumes, an instance with two network interfaces, in an Auto Scaling group and a target
group (all in one VPC, whose quarantine groups a warm-up step creates), goes through the EC2 playbook's
automatic actions in one step, as ContainAutomatically runs them
(undo records, changes, re-reads, audit events), twice: in the playbook's order, the snapshots requested
before isolation, and with snapshot_volumes moved after isolate_network. Everything runs against moto in this
process, so the times measure Tourniquet's own work and moto's, not AWS latency; the calls are what AWS
would see, each a round trip.

For each order: the calls until isolation is recorded, the time to it, and when the snapshots were requested
against the moment the last interface entered the quarantine group (negative: before). A snapshot holds what
its volume held when it was requested; requested after isolation, the disks are captured only once the
calls between have run, and anything on the instance that notices it is cut off (a wiper triggered by the
loss of its command channel, say) can change them meanwhile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.client import BaseClient
from moto import mock_aws

from tests.helpers import create_deny_all_policy
from tourniquet import aws
from tourniquet.containment import runner
from tourniquet.containment.model import ContainRequest
from tourniquet.logs import logger
from tourniquet.playbooks.catalog import catalog
from tourniquet.settings import get_settings
from tourniquet.state import Plan, Target

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "tourniquet-bench"
AMI = "ami-12c6146b"  # bundled with moto: launching with it skips the slow image lookup
PLAYBOOK = "guardduty-ec2-instance"
VOLUME_COUNTS = (1, 2, 4, 8)
# The last swap of an interface into the quarantine group, and the snapshot request.
ISOLATING = "ModifyNetworkInterfaceAttribute"
SNAPSHOTTING = ("CreateSnapshots", "CreateSnapshot")


def orders() -> dict[str, tuple[str, ...]]:
    """The playbook's automatic actions as it orders them, and with the snapshots after isolation."""
    [playbook] = [p for p in catalog() if p.id == PLAYBOOK]
    evidence_first = tuple(a.name for a in playbook.actions if a.mode == "auto")
    rest = [name for name in evidence_first if name != "snapshot_volumes"]
    after = rest.index("isolate_network") + 1
    isolation_first = (*rest[:after], "snapshot_volumes", *rest[after:])
    return {"snapshots, then isolation": evidence_first, "isolation, then snapshots": isolation_first}


@contextmanager
def _moto() -> Iterator[None]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto placeholder credentials
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        TABLE_NAME=TABLE,
        SCOPE_ACCOUNTS=ACCOUNT,
        SCOPE_REGIONS=REGION,
        MEMBER_ROLE_NAME="TourniquetMember",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    aws.forget_credentials()
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        create_deny_all_policy(boto3.client("iam", region_name=REGION))
        yield


@dataclass(frozen=True)
class Network:
    vpc: str
    subnet: str
    group: str


def _network() -> Network:
    """The VPC every instance runs in: its quarantine groups are created by the warm-up step, as by the first
    incident in a VPC, and found by every later one."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/18", AvailabilityZone=f"{REGION}a")["Subnet"][
        "SubnetId"
    ]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    return Network(vpc, subnet, group)


def _remove_fleet(run: str) -> None:
    """The run's group and target group, so that the next run's reads find only its own."""
    boto3.client("autoscaling", region_name=REGION).delete_auto_scaling_group(
        AutoScalingGroupName=run, ForceDelete=True
    )
    elbv2 = boto3.client("elbv2", region_name=REGION)
    [group] = elbv2.describe_target_groups(Names=[run])["TargetGroups"]
    elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])


def _instance(network: Network, volumes: int, run: str) -> str:
    """A running instance with ``volumes`` EBS volumes, two interfaces, an ASG and a target group."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc, subnet, group = network.vpc, network.subnet, network.group
    devices = ["/dev/sda1", *(f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1))]
    instance = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
        BlockDeviceMappings=[
            {"DeviceName": d, "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}} for d in devices
        ],
    )["Instances"][0]["InstanceId"]
    second = ec2.create_network_interface(SubnetId=subnet, Groups=[group])["NetworkInterface"]
    ec2.attach_network_interface(
        NetworkInterfaceId=second["NetworkInterfaceId"], InstanceId=instance, DeviceIndex=1
    )
    name = run
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": AMI})
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
    )
    autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName=name)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    target_group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][
        0
    ]
    elbv2.register_targets(TargetGroupArn=target_group["TargetGroupArn"], Targets=[{"Id": instance}])
    return str(instance)


@dataclass(frozen=True)
class Call:
    operation: str
    started: float
    ended: float


@contextmanager
def _timing(calls: list[Call]) -> Iterator[None]:
    """Every AWS call made in process, with when it started and ended."""
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - botocore's private hook point

    def timed(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation, params)
        finally:
            calls.append(Call(operation, started, time.perf_counter()))

    setattr(BaseClient, "_make_api_call", timed)  # noqa: B010
    try:
        yield
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def _contain(instance_id: str, incident_id: str, actions: tuple[str, ...]) -> dict[str, float]:
    plan = Plan(
        playbook=PLAYBOOK,
        target=Target(type="AwsEc2Instance", id=instance_id, account=ACCOUNT, region=REGION),
        automatic=actions,
    )
    request = ContainRequest(mode="auto", incident_id=incident_id, plan=plan)
    calls: list[Call] = []
    with _timing(calls):
        started = time.perf_counter()
        results = runner.run(request, get_settings())
        ended = time.perf_counter()
    if not all(result.verified for result in results):
        raise RuntimeError(f"{incident_id}: not every action verified")
    isolating = max(i for i, call in enumerate(calls) if call.operation == ISOLATING)
    # Isolation is recorded by the table write that follows the last swap (its proof read comes first).
    recorded = next(i for i in range(isolating, len(calls)) if calls[i].operation == "TransactWriteItems")
    isolated = calls[isolating].ended
    snapshot = next(call for call in calls if call.operation in SNAPSHOTTING)
    return {
        "calls_to_isolated": recorded + 1,
        "isolated": calls[recorded].ended - started,
        "snapshot_vs_isolation": snapshot.started - isolated,
        "calls_between": sum(1 for call in calls if isolated <= call.started < snapshot.started),
        "total": ended - started,
    }


def measure(runs: int) -> dict[str, dict[int, dict[str, float]]]:
    """The median of ``runs`` steps per order and volume count, after one warm-up step; orders take turns."""
    logger.setLevel("WARNING")
    found = orders()
    samples: dict[str, dict[int, list[dict[str, float]]]] = {o: {v: [] for v in VOLUME_COUNTS} for o in found}
    with _moto():
        network = _network()
        _contain(_instance(network, 1, "inc-warmup"), "inc-warmup", next(iter(found.values())))
        _remove_fleet("inc-warmup")
        for run in range(1, runs + 1):
            for volumes in VOLUME_COUNTS:
                for n, (order, actions) in enumerate(found.items()):
                    incident = f"inc-bench-{volumes}-{run}-{n}"
                    instance = _instance(network, volumes, incident)
                    samples[order][volumes].append(_contain(instance, incident, actions))
                    _remove_fleet(incident)
    return {
        order: {
            volumes: {key: statistics.median(s[key] for s in found_) for key in found_[0]}
            for volumes, found_ in by_volumes.items()
        }
        for order, by_volumes in samples.items()
    }


def table(results: dict[str, dict[int, dict[str, float]]], runs: int) -> str:
    lines = [
        f"the automatic containment step in process against moto, median of {runs} runs per row "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):",
        f"{'order':<27} {'volumes':>7} {'calls to isolated':>17} {'isolated':>9} "
        f"{'snapshots requested':>20} {'calls between':>13} {'whole step':>10}",
    ]
    for order, by_volumes in results.items():
        for volumes, r in by_volumes.items():
            when = r["snapshot_vs_isolation"] * 1000
            lines.append(
                f"{order:<27} {volumes:>7} {r['calls_to_isolated']:>17g} {r['isolated'] * 1000:>6.0f} ms "
                f"{f'{when:+.0f} ms vs isolated':>20} {r['calls_between']:>13g} {r['total'] * 1000:>7.0f} ms"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="steps per order and volume count (median shown)")
    args = parser.parse_args(argv)
    print(table(measure(args.runs), args.runs))


if __name__ == "__main__":
    main()
