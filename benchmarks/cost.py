"""What an incident costs to run, measured in the sandbox, and the monthly bill at 10, 100 and 1,000 a day.

    python -m benchmarks.cost [--runs N]

Each run is the demo's incident (a GuardDuty EC2 finding, contained automatically, approved, stopped) on a
fresh look-alike instance. Measured per incident: the workflow's state transitions (every state entered, as
Step Functions bills them), each function invocation's duration and memory (GB-seconds, billed per started
millisecond), and every DynamoDB request with the size of the items it touched (request units: a write is
one unit per KB of its item, twice in a transaction; a read one unit per 4 KB, half when eventually
consistent). Durations are the handlers' own, in process, against the embedded AWS on 127.0.0.1: AWS itself
answers some calls faster and some slower, so the Lambda figure gives the order of magnitude. The prices are
the list prices below.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import statistics
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from sandbox import patches
from sandbox.core import Sandbox
from tourniquet.logs import logger
from tourniquet_cli.scenario import run_alert
from tourniquet_cli.simulate_cmd import EXAMPLE

# List prices, us-east-1, in USD (Step Functions Standard, Lambda on x86, DynamoDB on demand), without the
# free tier.
PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_INVOCATION = 0.20 / 1_000_000
PRICE_PER_WRITE_UNIT = 0.625 / 1_000_000
PRICE_PER_READ_UNIT = 0.125 / 1_000_000
DAYS_PER_MONTH = 30
RATES = (10, 100, 1000)


@dataclass
class Meter:
    """What the functions and the table were asked for while the meter runs."""

    invocations: list[tuple[str, int, float]] = field(default_factory=list)
    """(function, memory MB, duration ms) per invocation."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Each DynamoDB request: its action and body."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gb_seconds(self) -> float:
        return sum(math.ceil(ms) / 1000 * memory / 1024 for _, memory, ms in self.invocations)

    def request_units(self, sizes: dict[tuple[str, str], int]) -> tuple[float, float, Counter[str]]:
        """Write and read units, and requests by action, given every item's size by (pk, sk)."""
        writes = reads = 0.0
        actions: Counter[str] = Counter()
        for request in self.requests:
            action, body = request["action"], request["body"]
            actions[action] += 1
            if action in ("PutItem", "UpdateItem", "DeleteItem"):
                writes += _write_units(_key(body.get("Item") or body.get("Key")), sizes)
            elif action == "TransactWriteItems":
                for item in body["TransactItems"]:
                    [part] = item.values()
                    writes += 2 * _write_units(_key(part.get("Item") or part.get("Key")), sizes)
            elif action == "GetItem":
                size = sizes.get(_key(body["Key"]), 0)
                reads += math.ceil(max(size, 1) / 4096) * (1 if body.get("ConsistentRead") else 0.5)
            elif action in ("Query", "Scan"):
                values = {
                    v.get("S") for v in (body.get("ExpressionAttributeValues") or {}).values() if "S" in v
                }
                matched = sum(size for (pk, _), size in sizes.items() if pk in values) or 1
                reads += math.ceil(matched / 4096) * (1 if body.get("ConsistentRead") else 0.5)
        return writes, reads, actions


def _key(item: dict[str, Any] | None) -> tuple[str, str]:
    item = item or {}
    return (item.get("pk", {}).get("S", ""), item.get("sk", {}).get("S", ""))


def _write_units(key: tuple[str, str], sizes: dict[tuple[str, str], int]) -> int:
    return math.ceil(max(sizes.get(key, 1), 1) / 1024)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: its attribute names and values, in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(inner.encode()) if isinstance(inner, str) else len(inner)
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_size(inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return sum(len(str(v)) for v in inner)  # SS, NS, BS


@contextmanager
def metering() -> Iterator[Meter]:
    """Count each function invocation and each DynamoDB request served while the block runs."""
    meter = Meter()
    invoke = patches.LambdaRuntime.invoke

    def timed(runtime: patches.LambdaRuntime, function: Any, event: Any = None) -> tuple[str, bool, str]:
        payload, errored, logs = invoke(runtime, function, event)
        duration = float(logs.rsplit("Duration: ", 1)[1].split(" ms", 1)[0])
        with meter.lock:
            meter.invocations.append((str(function.function_name), int(function.memory_size), duration))
        return payload, errored, logs

    serve = DynamoHandler.call_action

    def call_action(handler: DynamoHandler) -> Any:
        response = serve(handler)  # parses the request into handler.body
        with meter.lock:
            meter.requests.append({"action": handler._get_action(), "body": dict(handler.body)})
        return response

    patches.LambdaRuntime.invoke = timed  # type: ignore[method-assign,assignment]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        patches.LambdaRuntime.invoke = invoke  # type: ignore[method-assign]
        DynamoHandler.call_action = serve  # type: ignore[method-assign]


def _event(n: int) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0cost{n:013d}"
    event["detail"]["id"] = f"cost-{n}"
    return event


def _item_sizes(sandbox: Sandbox) -> dict[tuple[str, str], int]:
    table = sandbox.deployment.table_name()
    sizes: dict[tuple[str, str], int] = {}
    for page in sandbox.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            sizes[_key(item)] = item_size(item)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="incidents to measure (default 5)")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)

    transitions: list[int] = []
    with Sandbox() as sandbox:
        with metering() as meter:
            for n in range(args.runs):
                run = run_alert(sandbox, Path("cost.json"), _event(n), "approve")
                if run.result["status"] != "contained":
                    raise SystemExit(f"run {n} did not end contained: {run.result['status']}")
                transitions.append(run.result["execution"]["transitions"])
        sizes = _item_sizes(sandbox)
    write_units, read_units, actions = meter.request_units(sizes)

    runs = args.runs
    per_incident = {
        "transitions": statistics.mean(transitions),
        "invocations": len(meter.invocations) / runs,
        "gb_seconds": meter.gb_seconds() / runs,
        "write_units": write_units / runs,
        "read_units": read_units / runs,
    }
    cost = {
        "Step Functions": per_incident["transitions"] * PRICE_PER_TRANSITION,
        "Lambda": per_incident["gb_seconds"] * PRICE_PER_GB_SECOND
        + per_incident["invocations"] * PRICE_PER_INVOCATION,
        "DynamoDB": per_incident["write_units"] * PRICE_PER_WRITE_UNIT
        + per_incident["read_units"] * PRICE_PER_READ_UNIT,
    }
    stored = sum(size for (pk, _), size in sizes.items() if pk.startswith("INCIDENT#")) / runs

    print(f"cost of one incident, measured over {runs} demo incidents (contained, approved, stopped)")
    print(f"  state transitions       {per_incident['transitions']:8.1f}")
    print(f"  function invocations    {per_incident['invocations']:8.1f}")
    print(
        f"  Lambda GB-seconds       {per_incident['gb_seconds']:8.3f}  (in process, against the embedded AWS)"
    )
    print(f"  DynamoDB write units    {per_incident['write_units']:8.1f}")
    print(f"  DynamoDB read units     {per_incident['read_units']:8.1f}")
    print(
        f"  DynamoDB requests       {sum(actions.values()) / runs:8.1f}  "
        + ", ".join(f"{action} {count / runs:.1f}" for action, count in actions.most_common())
    )
    print(f"  kept in the table       {stored / 1024:8.1f} KB  (incident, timeline, undo records)")
    for service, dollars in cost.items():
        print(f"  {service:<22}  ${dollars:.6f}")
    total = sum(cost.values())
    print(f"  total                   ${total:.6f}")
    print("per month (30 days), list prices, no free tier")
    for rate in RATES:
        monthly = total * rate * DAYS_PER_MONTH
        parts = ", ".join(f"{s} ${d * rate * DAYS_PER_MONTH:.2f}" for s, d in cost.items())
        print(f"  {rate:>5} incidents a day   ${monthly:8.2f}   ({parts})")


if __name__ == "__main__":
    main()
