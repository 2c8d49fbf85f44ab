"""Time to isolation through the whole workflow, and how it grows with the number of volumes (sandbox).

    python -m benchmarks.isolation [--runs N]

For 1, 2, 4 and 8 EBS volumes, a look-alike instance with two network interfaces serves in an Auto Scaling
group behind a target group, and a GuardDuty EC2 finding about it starts the deployed workflow. "isolated" is
the time from the execution's start (its startDate) to the isolate_network action's verified timeline event.
It covers intake, deduplication, diagnostics and the plan ("to contain": until ContainAutomatically is
entered), then tag, preserve evidence, snapshot, detach from the fleet and isolate, each one Lambda
invocation with its undo record, calls, re-read and audit events. Each step's column is the time from the
previous step's verified event to its own. The approval is denied afterwards so that the execution ends; that
part is not measured. Every run gets a fresh fleet, removed after the run, so that no run sees another run's
load balancers; volume counts take turns, so that drift in the sandbox spreads evenly over them, and the
sandbox's own heap is set aside from garbage collection before each run (see run_once).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import os
import statistics
from datetime import datetime
from typing import Any

from sandbox.core import Sandbox
from sandbox.seed import SeededFleet
from tourniquet import store
from tourniquet.logs import logger
from tourniquet_cli.main import EXAMPLE

VOLUME_COUNTS = (1, 2, 4, 8)
NETWORK_INTERFACES = 2
STEPS = ("tag_instance", "preserve_evidence", "snapshot_volumes", "detach_from_scaling", "isolate_network")
ISOLATED = "isolate_network"
CONTAIN_STATE = "ContainAutomatically"
EXECUTION_TIMEOUT_SECONDS = 60.0


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


def run_once(sandbox: Sandbox, n: int, volumes: int) -> dict[str, float]:
    """One finding through the workflow; seconds from the execution's start to each step's proof."""
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
        if e["type"] == "MapStateEntered" and e["stateEnteredEventDetails"]["name"] == CONTAIN_STATE
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
    timings = {"to_contain": (contain - started).total_seconds()}
    previous = contain
    for step in STEPS:
        timings[step] = (proofs[step] - previous).total_seconds()
        previous = proofs[step]
    timings["isolated"] = (proofs[ISOLATED] - started).total_seconds()
    return timings


def measure(sandbox: Sandbox, runs: int) -> dict[int, dict[str, float]]:
    """The median of ``runs`` executions per volume count, after one warm-up execution."""
    run_once(sandbox, 0, 1)
    samples: dict[int, list[dict[str, float]]] = {volumes: [] for volumes in VOLUME_COUNTS}
    n = 1
    for _ in range(runs):
        for volumes in VOLUME_COUNTS:
            samples[volumes].append(run_once(sandbox, n, volumes))
            n += 1
    return {
        volumes: {key: statistics.median(s[key] for s in found) for key in found[0]}
        for volumes, found in samples.items()
    }


def table(results: dict[int, dict[str, float]], runs: int) -> str:
    short = {
        "to_contain": "to contain",
        "tag_instance": "tag",
        "preserve_evidence": "preserve",
        "snapshot_volumes": "snapshot",
        "detach_from_scaling": "detach",
        "isolate_network": "isolate",
    }
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
    print(table(results, args.runs))


if __name__ == "__main__":
    main()
