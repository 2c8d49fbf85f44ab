"""How long containment takes, and how it grows with the number of volumes (moto, in process).

    python -m benchmarks.containment [--runs N]

For 1 to 8 EBS volumes, an instance with two network interfaces, in an Auto Scaling group and a target
group, goes through the automatic EC2 actions in playbook order. The table shows each action's time and
"to isolated": from the first action's start to isolate_network verified. Every action runs the handler's
code (undo record, act, re-read, verify, audit events) against moto in this process, so the numbers measure
Tourniquet's own work and its number of round trips, not AWS latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws

from tourniquet.containment import runner
from tourniquet.containment.model import ContainRequest
from tourniquet.logs import logger
from tourniquet.settings import get_settings

REGION = "eu-west-1"
TABLE = "tourniquet-bench"
AMI = "ami-12c6146b"  # bundled with moto: launching with it skips the slow image lookup
ACTIONS = (
    "tag_instance",
    "preserve_evidence",
    "snapshot_volumes",
    "detach_from_scaling",
    "isolate_network",
    "disassociate_eip",
    "quarantine_instance_profile",
)
ISOLATED_AFTER = "isolate_network"
VOLUME_COUNTS = (1, 2, 4, 8)


@contextmanager
def _moto() -> Iterator[None]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto placeholder credentials
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        TABLE_NAME=TABLE,
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
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
        yield


def _instance(volumes: int, run: int) -> str:
    """A running instance with ``volumes`` EBS volumes, two interfaces, an ASG and a target group."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"][
        "SubnetId"
    ]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
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
    name = f"app-{volumes}-{run}"
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


def _contain(instance_id: str, incident_id: str) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for action in ACTIONS:
        begun = time.perf_counter()
        target = {"type": "AwsEc2Instance", "id": instance_id, "account": "123456789012", "region": REGION}
        event = {"action": action, "mode": "auto", "incident_id": incident_id, "target": target}
        result = runner.run(ContainRequest.parse(event), get_settings())
        if not result.verified:
            raise RuntimeError(f"{action} did not verify")
        timings[action] = time.perf_counter() - begun
        if action == ISOLATED_AFTER:
            timings["to_isolated"] = time.perf_counter() - started
    timings["total"] = time.perf_counter() - started
    return timings


def measure(runs: int) -> dict[int, dict[str, float]]:
    """The median of ``runs`` containments per volume count, after one warm-up run."""
    logger.setLevel("WARNING")
    results: dict[int, dict[str, float]] = {}
    with _moto():
        _contain(_instance(1, 0), "inc-warmup")
        for volumes in VOLUME_COUNTS:
            samples = [
                _contain(_instance(volumes, run), f"inc-bench-{volumes}-{run}") for run in range(1, runs + 1)
            ]
            results[volumes] = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    return results


def table(results: dict[int, dict[str, float]]) -> str:
    columns = ["volumes", *ACTIONS, "to_isolated", "total"]
    short = {name: name.split("_")[0][:8] for name in ACTIONS}
    header = ["volumes", *(short[a] for a in ACTIONS), "isolated", "total"]
    widths = [max(len(h), 8) for h in header]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    for volumes, timings in results.items():
        cells = [str(volumes), *(f"{timings[c] * 1000:.0f} ms" for c in columns[1:])]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    base = results[min(results)]["to_isolated"]
    lines.append("")
    lines.append(
        "growth of 'isolated' vs 1 volume: "
        + ", ".join(f"{v} vol x{t['to_isolated'] / base:.2f}" for v, t in results.items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="containments per volume count (median shown)")
    args = parser.parse_args(argv)
    print(table(measure(args.runs)))


if __name__ == "__main__":
    main()
