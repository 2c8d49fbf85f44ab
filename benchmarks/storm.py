"""An alert storm through the whole workflow: many copies of a few problems, from three sources, arriving
interleaved; every problem must become exactly one incident and every copy a duplicate of it.

    python -m benchmarks.storm [--problems N] [--copies N] [--wave N]

Prints the incidents opened, the duplicates counted and the throughput. The sandbox runs every handler on
one thread (AWS would run them side by side), so the figure compares changes of this code, not AWS.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.core import Sandbox
from tests.helpers import load_event
from tourniquet.logs import logger

# Executions in flight at once: an unbounded burst would only queue invocations past their task timeouts.
WAVE = 50


def problems(count: int) -> list[dict[str, Any]]:
    """``count`` distinct problems: GuardDuty findings, Alertmanager alerts and CloudWatch alarms in turn."""
    found: list[dict[str, Any]] = []
    webhook = load_event("alertmanager_v4_firing")
    for n in range(count):
        kind = n % 3
        if kind == 0:
            event = load_event("guardduty_ec2_finding")
            event["detail"]["id"] = f"storm-finding-{n}"
            event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0st0rm{n:010d}"
        elif kind == 1:
            body = copy.deepcopy(webhook)
            alert = copy.deepcopy(body["alerts"][0])
            alert["labels"]["alertname"] = f"StormAlert{n}"
            alert["fingerprint"] = f"{n:016x}"
            body["alerts"] = [alert]
            event = {
                "source": "tourniquet.webhook",
                "detail-type": "Webhook Alert",
                "detail": {"webhook": "alertmanager", "payload": body},
            }
        else:
            event = load_event("cloudwatch_alarm_state_change")
            event["detail"]["alarmName"] = f"security-storm-{n}"
            event["resources"] = [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:security-storm-{n}"]
        found.append(event)
    return found


def storm(problem_count: int, copies: int) -> list[dict[str, Any]]:
    """Every problem ``copies`` times, interleaved as a storm arrives: each re-fires among the others."""
    made = problems(problem_count)
    return [copy.deepcopy(problem) for _ in range(copies) for problem in made]


def run_storm(sandbox: Sandbox, alerts: list[dict[str, Any]], wave: int = WAVE) -> list[dict[str, Any]]:
    """Every alert's finished execution, started in waves of concurrent executions."""
    executions: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for start in range(0, len(alerts), wave):
            arns = list(pool.map(sandbox.start_execution, alerts[start : start + wave]))
            executions += [sandbox.wait_for_execution(arn, timeout=120) for arn in arns]
    return executions


def folded(executions: list[dict[str, Any]]) -> tuple[list[str], Counter[str]]:
    """The incidents the executions opened, and how many duplicates each one folded."""
    outputs = [json.loads(execution["output"]) for execution in executions if execution.get("output")]
    opened = [o["incident"]["id"] for o in outputs if not o["incident"]["duplicate"]]
    duplicates = Counter(o["incident"]["id"] for o in outputs if o["incident"]["duplicate"])
    return opened, duplicates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=10, help="distinct problems (default 10)")
    parser.add_argument("--copies", type=int, default=50, help="alerts per problem (default 50)")
    parser.add_argument("--wave", type=int, default=WAVE, help=f"executions in flight (default {WAVE})")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)

    alerts = storm(args.problems, args.copies)
    with Sandbox() as sandbox:
        began = time.perf_counter()
        executions = run_storm(sandbox, alerts, args.wave)
        elapsed = time.perf_counter() - began
    statuses = Counter(execution["status"] for execution in executions)
    opened, duplicates = folded(executions)
    exact = len(opened) == len(set(opened)) == args.problems and all(
        count == args.copies - 1 for count in duplicates.values()
    )
    print(f"alert storm: {len(alerts)} alerts about {args.problems} problems, {args.wave} in flight")
    print(f"  executions          {dict(statuses)}")
    verdict = "exactly one per problem" if exact else "NOT one per problem"
    print(f"  incidents opened    {len(opened):8d}  ({verdict})")
    print(f"  duplicates folded   {sum(duplicates.values()):8d}")
    print(f"  wall time           {elapsed:8.1f} s")
    print(f"  throughput          {len(alerts) / elapsed:8.1f} alerts/s")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
