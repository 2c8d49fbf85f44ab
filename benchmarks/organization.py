"""AssumeRole calls per incident, and time to isolation, for a member account's instance against one in the
hub's own account; and what the organization adds to the sandbox's start (sandbox).

    python -m benchmarks.organization [--runs N] [--starts N]

Each run is a GuardDuty EC2 finding about a fresh look-alike instance, either in the hub's account and home
region (123456789012, eu-west-1) or in a member account and the second region (111111111111, us-east-1),
approved, so that every step of the incident runs. The two kinds take turns, after one warm-up run of each,
so that drift in the sandbox spreads evenly over them. "isolated" is the time from the execution's start to
the isolate_network action's verified timeline event, as in benchmarks.isolation. AssumeRole calls are
counted by the sandbox's call log over the whole execution, by the role they asked for. The start is timed
with the organization (accounts, OUs, the member stack in five accounts) and without it (the member stack in
the hub's account only), taking turns.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.core import Sandbox
from sandbox.organization import HOME_REGION, HUB_ACCOUNT, MEMBER_ACCOUNTS, SECOND_REGION
from tourniquet import store
from tourniquet.logs import logger
from tourniquet_cli.main import EXAMPLE
from tourniquet_cli.scenario import run_alert

ISOLATED = "isolate_network"
GOAL_RATIO = 1.2
PLACES = {"hub": (HUB_ACCOUNT, HOME_REGION), "member": (MEMBER_ACCOUNTS[0], SECOND_REGION)}


def _event(kind: str, n: int) -> dict[str, Any]:
    account, region = PLACES[kind]
    text = EXAMPLE.read_text().replace(HUB_ACCOUNT, account).replace(HOME_REGION, region)
    event: dict[str, Any] = copy.deepcopy(json.loads(text))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0org{kind[0]}{n:011d}"
    event["detail"]["id"] = f"organization-bench-{kind}-{n}"
    return event


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def run_once(sandbox: Sandbox, kind: str, n: int) -> tuple[float, Counter[str]]:
    """One approved incident: seconds from the execution's start to isolation, and its AssumeRole calls."""
    event, _ = sandbox.map_alert(_event(kind, n))
    # As in benchmarks.isolation: what exists now is set aside from garbage collection during the run.
    gc.collect()
    gc.freeze()
    with sandbox.calls.recording() as calls:
        run = run_alert(sandbox, Path("bench.json"), event, "approve")
    result = run.result
    if result["status"] != "contained":
        raise SystemExit(f"{kind} run {n} ended {result['status']}")
    execution = sandbox.client("stepfunctions").describe_execution(executionArn=result["execution"]["arn"])
    [isolated] = [
        _at(e["at"])
        for e in store.timeline(result["incident_id"])
        if e["kind"] == "action" and e.get("action") == ISOLATED and e.get("verified")
    ]
    # The sandbox's own AssumeRole (to seed the look-alike in a member account) is not the incident's.
    assumed = Counter(
        str(c.role_arn).rsplit("/", 1)[-1]
        for c in calls
        if c.action == "AssumeRole" and c.principal.startswith(f"arn:aws:iam::{HUB_ACCOUNT}:role/Tourniquet-")
    )
    return (isolated - execution["startDate"]).total_seconds(), assumed


def measure(sandbox: Sandbox, runs: int) -> dict[str, tuple[list[float], list[Counter[str]]]]:
    for kind in PLACES:
        run_once(sandbox, kind, 0)
    samples: dict[str, tuple[list[float], list[Counter[str]]]] = {kind: ([], []) for kind in PLACES}
    for n in range(1, runs + 1):
        for kind in PLACES:
            seconds, assumed = run_once(sandbox, kind, n)
            samples[kind][0].append(seconds)
            samples[kind][1].append(assumed)
    return samples


def starts(count: int) -> dict[bool, list[float]]:
    """Seconds each start took, with the organization and without, taking turns."""
    timed: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(count):
        for organization in (False, True):
            began = time.perf_counter()
            with Sandbox(organization=organization):
                timed[organization].append(time.perf_counter() - began)
    return timed


def report(samples: dict[str, tuple[list[float], list[Counter[str]]]], timed: dict[bool, list[float]]) -> str:
    runs = len(samples["hub"][0])
    lines = [
        f"organization: one incident in the hub's account against one in a member account, median of {runs} "
        "runs each",
        # Everything runs in this process: other work on the machine shows up in every figure.
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end",
    ]
    for kind, (account, region) in PLACES.items():
        assumed = samples[kind][1]
        totals = [sum(counter.values()) for counter in assumed]
        roles = Counter[str]()
        for counter in assumed:
            roles.update(counter)
        per_role = ", ".join(f"{role} {count / len(assumed):g}" for role, count in sorted(roles.items()))
        lines.append(
            f"  {kind:<6} {account} {region:<9}  AssumeRole per incident {statistics.median(totals):g} "
            f"(min {min(totals)}, max {max(totals)}; {per_role})"
        )
    hub, member = (statistics.median(samples[kind][0]) for kind in PLACES)
    ratio = member / hub
    lines += [
        f"  workflow start -> isolated: hub {hub * 1000:.0f} ms, member {member * 1000:.0f} ms, "
        f"member/hub x{ratio:.2f} (goal <= x{GOAL_RATIO:.1f}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})",
    ]
    if timed[True]:
        without, with_organization = statistics.median(timed[False]), statistics.median(timed[True])
        lines.append(
            f"  sandbox start (median of {len(timed[True])}): without the organization "
            f"{without * 1000:.0f} ms, with it {with_organization * 1000:.0f} ms, "
            f"x{with_organization / without:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="incidents of each kind (median shown)")
    parser.add_argument("--starts", type=int, default=3, help="sandbox starts of each kind (median shown)")
    args = parser.parse_args(argv)
    logger.setLevel(logging.WARNING)
    timed = starts(args.starts)
    with Sandbox() as sandbox:
        samples = measure(sandbox, args.runs)
    print(report(samples, timed))


if __name__ == "__main__":
    main()
