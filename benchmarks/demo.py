"""The demo scenario, repeated: how fast an alert becomes a card, a click becomes containment, and a Release
click puts it all back.

    python -m benchmarks.demo [--runs N] [--starts N]

Each run uses a fresh look-alike instance, so every run opens and contains a new incident.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from sandbox.core import Sandbox
from tourniquet.logs import logger
from tourniquet_cli.main import EXAMPLE
from tourniquet_cli.scenario import run_alert


def _event(n: int) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0bench{n:012d}"
    event["detail"]["id"] = f"bench-{n}"
    return event


def _release(sandbox: Sandbox, incident_id: str) -> float:
    """Click the closed card's Release button; seconds until the release workflow succeeded."""
    card = sandbox.wait_for_card(incident_id)
    began = time.perf_counter()
    status, _ = sandbox.click(card, "release")
    execution = sandbox.wait_for_execution(sandbox.release_execution_arn(incident_id), timeout=60)
    if status != 200 or execution["status"] != "SUCCEEDED":
        raise SystemExit(f"release of {incident_id} did not succeed: {execution['status']}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="incidents to run (default 7)")
    parser.add_argument("--starts", type=int, default=3, help="sandbox start-ups to time (default 3)")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)

    startups: list[tuple[float, bool]] = []
    for _ in range(args.starts):
        began = time.perf_counter()
        with Sandbox() as sandbox:
            startups.append((time.perf_counter() - began, bool(sandbox.synth_cache_hit)))

    to_card: list[float] = []
    to_contained: list[float] = []
    to_released: list[float] = []
    total: list[float] = []
    transitions: list[int] = []
    with Sandbox() as sandbox:
        for n in range(args.runs):
            run = run_alert(sandbox, Path("bench.json"), _event(n), "approve")
            timings = run.timings
            card, clicked, finished = timings.card_posted, timings.clicked, timings.finished
            if run.result["status"] != "contained" or card is None or clicked is None or finished is None:
                raise SystemExit(f"run {n} did not end contained: {run.result['status']}")
            to_card.append(card - timings.started)
            to_contained.append(finished - clicked)
            total.append(finished - timings.started)
            transitions.append(run.result["execution"]["transitions"])
            to_released.append(_release(sandbox, run.result["incident_id"]))

    def median_ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.0f} ms"

    print(f"demo scenario, {args.runs} incidents (medians)")
    print(f"  alert submitted -> approval card posted  {median_ms(to_card)}")
    print(f"  approval click  -> incident contained    {median_ms(to_contained)}")
    print(f"  alert submitted -> contained (with click){median_ms(total)}")
    print(f"  release click   -> incident released     {median_ms(to_released)}")
    print(f"  state transitions per incident           {statistics.median(transitions):8.0f}")
    warm = [s for s, hit in startups if hit]
    cold = [s for s, hit in startups if not hit]
    if warm:
        print(f"  sandbox start-up (synth cached)          {median_ms(warm)}  ({len(warm)} starts)")
    if cold:
        print(f"  sandbox start-up (synth from scratch)    {median_ms(cold)}  ({len(cold)} starts)")


if __name__ == "__main__":
    main()
