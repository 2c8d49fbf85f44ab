"""Time and AWS calls to isolation through the whole workflow, and how they grow with the number of volumes,
next to a bare isolation handler (sandbox).

    python -m benchmarks.isolation [--runs N]

For 1, 2, 4 and 8 EBS volumes, a look-alike instance with two network interfaces serves in an Auto Scaling
group behind a target group, and a GuardDuty EC2 finding about it starts the deployed workflow. "isolated" is
the time from the execution's start (its startDate) to the isolate_network action's verified timeline event.
It covers intake, deduplication, diagnostics and the plan ("to contain": until ContainAutomatically is
entered), then the automatic steps up to isolation (evidence preserved and requested, the fleet left,
isolation) with their undo records, calls, re-reads and audit events. "all proved" is the time to the last
automatic action's verified event (the proofs and marks that follow isolation). The approval is denied
afterwards so that the execution ends; that part is not measured. Every run gets a fresh fleet, removed after
the run, so that no run sees another run's load balancers; volume counts take turns, so that drift in the
sandbox spreads evenly over them, and the sandbox's own heap is set aside from garbage collection before each
run (see run_once).

The AWS calls are those Tourniquet's functions make (their own roles and the member roles they assume; not the
sandbox's polling or Step Functions' invocations) from the execution's start to the write that records the
verified isolation, counted by service and operation. In AWS each is a network round trip. The first run
also creates the VPC's quarantine groups; the later runs find them, as every incident after the first in a
VPC does: both counts are shown. Next to each run, in the same sandbox, a bare handler isolates a look-alike
with the same volumes the way a single-function responder writes it (describe, one snapshot per volume, a
no-rule group, swap the groups): no undo record, no verification, no audit trail, no fleet, one step.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.calls import Call
from sandbox.core import Sandbox
from sandbox.seed import SeededFleet
from tourniquet import store
from tourniquet.logs import logger
from tourniquet_cli.main import EXAMPLE

VOLUME_COUNTS = (1, 2, 4, 8)
NETWORK_INTERFACES = 2
STEPS = (
    "preserve_evidence",
    "snapshot_volumes",
    "detach_from_scaling",
    "isolate_network",
    "tag_instance",
    "quarantine_instance_profile",
)
ISOLATED = "isolate_network"
CONTAIN_STATE = "ContainAutomatically"
EXECUTION_TIMEOUT_SECONDS = 60.0
# The volume count whose calls are shown by service and operation.
COUNTED_VOLUMES = 4
CALL_BUDGET = 30
_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems")


@dataclass(frozen=True)
class Run:
    """One finding through the workflow: seconds from the execution's start to each step's proof, and the AWS
    calls up to isolation (``service.Operation`` → count)."""

    timings: dict[str, float]
    calls: Counter[str]


def _event(n: int) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0isolate{n:010d}"
    event["detail"]["id"] = f"isolation-bench-{n}"
    return event


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _remove(sandbox: Sandbox, fleet: SeededFleet) -> None:
    """The fleet's group (and the instances it launched), load balancer and target group."""
    sandbox.client("autoscaling").delete_auto_scaling_group(
        AutoScalingGroupName=fleet.asg_name, ForceDelete=True
    )
    elbv2 = sandbox.client("elbv2")
    elbv2.delete_load_balancer(LoadBalancerArn=fleet.load_balancer_arn)
    for arn in fleet.target_group_arns:
        elbv2.delete_target_group(TargetGroupArn=arn)
    sandbox.client("ec2").delete_launch_template(LaunchTemplateId=fleet.launch_template_id)


def calls_to_isolation(calls: Sequence[Call], isolated: datetime) -> Counter[str]:
    """Tourniquet's calls (signed by a function's role or a member role, not by the sandbox) up to and with
    the first table write at or after the verified isolation event's time (the write that records it)."""
    # The event's time has whole milliseconds: its write comes at or after that millisecond.
    recorded = isolated.timestamp() - 0.0005
    counted: Counter[str] = Counter()
    for call in calls:
        if call.principal.endswith(":root"):
            continue
        counted[f"{call.service}.{call.action}"] += 1
        if call.service == "dynamodb" and call.action in _DYNAMODB_WRITES and call.at >= recorded:
            return counted
    raise SystemExit("the isolation was never recorded")


def run_once(sandbox: Sandbox, n: int, volumes: int) -> Run:
    """One finding through the workflow; seconds from the execution's start to each step's proof, and the
    calls up to isolation."""
    event, mapping = sandbox.map_alert(_event(n), volumes=volumes, network_interfaces=NETWORK_INTERFACES)
    seeded = sandbox.seed.seeded(next(original for original in mapping if original.startswith("i-")))
    fleet = sandbox.seed.fleet(
        seeded, autoscaling=sandbox.client("autoscaling"), elbv2=sandbox.client("elbv2")
    )
    # moto's whole state shares this process's heap with the functions: a full collection pauses everything
    # for up to half a second, which a function in its own small Lambda process never pays. What exists now
    # is set aside, so that collections during the run only look at what the run creates.
    gc.collect()
    gc.freeze()
    with sandbox.calls.recording() as calls:
        execution_arn = sandbox.start_execution(event)
        card = sandbox.wait_for_card(execution_arn, timeout=EXECUTION_TIMEOUT_SECONDS)
    sandbox.click(card, "deny")
    execution = sandbox.wait_for_execution(execution_arn, timeout=EXECUTION_TIMEOUT_SECONDS)
    if execution["status"] != "SUCCEEDED":
        raise SystemExit(f"run {n} ({volumes} volumes) ended {execution['status']}")
    _remove(sandbox, fleet)

    started: datetime = execution["startDate"]
    [contain] = [
        e["timestamp"]
        for e in sandbox.execution_history(execution_arn)
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == CONTAIN_STATE
    ]
    incident_id = sandbox.incident_id_for(execution_arn)
    if incident_id is None:
        raise SystemExit(f"run {n} ({volumes} volumes) opened no incident")
    proofs = {
        e["action"]: _at(e["at"])
        for e in store.timeline(incident_id)
        if e["kind"] == "action" and e.get("verified") and e["action"] in STEPS
    }
    if set(proofs) != set(STEPS):
        raise SystemExit(f"run {n} ({volumes} volumes): unverified steps {sorted(set(STEPS) - set(proofs))}")
    timings = {
        "to_contain": (contain - started).total_seconds(),
        "isolated": (proofs[ISOLATED] - started).total_seconds(),
        "all_proved": (max(proofs.values()) - started).total_seconds(),
    }
    return Run(timings, calls_to_isolation(calls, proofs[ISOLATED]))


def bare_isolation(ec2: Any, instance_id: str) -> None:
    """Isolation as a bare single-function handler writes it: read the instance, snapshot each volume, make a
    no-rule group, put the instance in it. Nothing recorded, nothing verified."""
    [instance] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    for mapping in instance["BlockDeviceMappings"]:
        ec2.create_snapshot(VolumeId=mapping["Ebs"]["VolumeId"], Description=f"forensics {instance_id}")
    group = ec2.create_security_group(
        GroupName=f"isolation-{instance_id}", Description="isolation", VpcId=instance["VpcId"]
    )["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[group])


def bare_once(sandbox: Sandbox, n: int, volumes: int) -> tuple[float, int]:
    """The bare handler on a look-alike of its own: seconds and AWS calls."""
    _, mapping = sandbox.map_alert(_event(n), volumes=volumes, network_interfaces=NETWORK_INTERFACES)
    instance_id = mapping[next(original for original in mapping if original.startswith("i-"))]
    ec2 = sandbox.client("ec2")
    gc.collect()
    gc.freeze()
    with sandbox.calls.recording() as calls:
        began = time.perf_counter()
        bare_isolation(ec2, instance_id)
        elapsed = time.perf_counter() - began
    return elapsed, sum(1 for call in calls if call.service == "ec2")


@dataclass(frozen=True)
class Results:
    """Medians per volume count, the calls of the first run in the VPC and of a median run, and the bare
    handler's medians."""

    timings: dict[int, dict[str, float]]
    calls: dict[int, float]
    first_in_vpc: Counter[str]
    counted: Counter[str]
    bare: dict[int, tuple[float, float]]


def measure(sandbox: Sandbox, runs: int) -> Results:
    """The median of ``runs`` executions per volume count, after one warm-up execution (the first in the
    VPC), each next to a bare handler's run."""
    first = run_once(sandbox, 0, COUNTED_VOLUMES)
    bare_once(sandbox, 10_000, COUNTED_VOLUMES)
    samples: dict[int, list[Run]] = {volumes: [] for volumes in VOLUME_COUNTS}
    bare: dict[int, list[tuple[float, int]]] = {volumes: [] for volumes in VOLUME_COUNTS}
    n = 1
    for _ in range(runs):
        for volumes in VOLUME_COUNTS:
            samples[volumes].append(run_once(sandbox, n, volumes))
            bare[volumes].append(bare_once(sandbox, 10_000 + n, volumes))
            n += 1
    counted = sorted(samples[COUNTED_VOLUMES], key=lambda run: sum(run.calls.values()))
    return Results(
        timings={
            volumes: {key: statistics.median(run.timings[key] for run in found) for key in found[0].timings}
            for volumes, found in samples.items()
        },
        calls={
            volumes: statistics.median(sum(run.calls.values()) for run in found)
            for volumes, found in samples.items()
        },
        first_in_vpc=first.calls,
        counted=counted[len(counted) // 2].calls,
        bare={
            volumes: (statistics.median(s for s, _ in found), statistics.median(c for _, c in found))
            for volumes, found in bare.items()
        },
    )


def by_operation(calls: Counter[str]) -> str:
    return ", ".join(
        f"{operation} {count}" for operation, count in sorted(calls.items(), key=lambda i: (-i[1], i[0]))
    )


def report(results: Results, runs: int) -> str:
    lines = [table(results.timings, runs), ""]
    lines.append(
        f"AWS calls from the execution's start to the verified isolation (median of {runs} runs), next to a "
        "bare handler in the same sandbox:"
    )
    header = ["volumes", "calls", "bare", "isolated", "bare", "x bare"]
    widths = [8, 6, 6, 9, 9, 7]
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for volumes, calls in results.calls.items():
        seconds, bare_calls = results.bare[volumes]
        isolated = results.timings[volumes]["isolated"]
        cells = [
            str(volumes),
            f"{calls:g}",
            f"{bare_calls:g}",
            f"{isolated * 1000:.0f} ms",
            f"{seconds * 1000:.0f} ms",
            f"x{isolated / seconds:.1f}",
        ]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    steady = sum(results.counted.values())
    first = sum(results.first_in_vpc.values())
    verdict = "met" if steady <= CALL_BUDGET else "NOT met"
    lines += [
        f"{COUNTED_VOLUMES} volumes, {NETWORK_INTERFACES} ENIs, Auto Scaling group and target group: "
        f"{steady} calls (budget {CALL_BUDGET}: {verdict}); the first incident in the VPC, which creates its "
        f"quarantine groups: {first}",
        f"  by operation: {by_operation(results.counted)}",
        f"  first in the VPC, by operation: {by_operation(results.first_in_vpc)}",
    ]
    return "\n".join(lines)


def table(results: dict[int, dict[str, float]], runs: int) -> str:
    short = {"to_contain": "to contain", "all_proved": "all proved"}
    header = ["volumes", "isolated", "vs 1 vol", *short.values()]
    widths = [max(len(h), 8) for h in header]
    base = results[min(results)]["isolated"]
    load = os.getloadavg()[0]
    lines = [
        f"time to isolation through the workflow: {NETWORK_INTERFACES} ENIs, Auto Scaling group and target "
        f"group, median of {runs} runs",
        # Everything runs in this process: other work on the machine shows up in every column.
        f"load average {load:.1f} on {os.cpu_count()} CPUs at the end",
        "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
    ]
    for volumes, timings in results.items():
        cells = [
            str(volumes),
            f"{timings['isolated'] * 1000:.0f} ms",
            f"x{timings['isolated'] / base:.2f}",
            *(f"{timings[key] * 1000:.0f} ms" for key in short),
        ]
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="executions per volume count (median shown)")
    args = parser.parse_args(argv)
    logger.setLevel(logging.WARNING)
    with Sandbox() as sandbox:
        results = measure(sandbox, args.runs)
    print(report(results, args.runs))


if __name__ == "__main__":
    main()
