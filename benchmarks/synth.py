"""What the pipeline adds to a synthesis: in-process synthesis time with and without it, for one account and
for an organization.

    python -m benchmarks.synth [--runs N]

Each configuration is synthesized as the infrastructure tests and the sandbox synthesize it (in process, no
asset bundling, no cdk-nag), after one warm-up synthesis of each, so that loading jsii and the library counts
for none of them; the configurations take turns, so that drift on the machine spreads evenly over them.
Besides the elapsed time, the CPU time of this process and of its jsii runtime (node, a child process; Linux
only) is counted: on a busy machine it varies far less than the elapsed time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from stacks.synth import synthesize

_PIPELINE = {
    "connection_arn": (
        "arn:aws:codeconnections:eu-west-1:111122223333:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    ),
    "repository": "acme/tourniquet",
}
# The hub's account and region: what a pipeline needs, and a single-account deployment besides.
_SINGLE: dict[str, Any] = {"hub_account_id": "111122223333", "regions": ["eu-west-1"]}
# Two forwarded regions and the StackSet (to the management account, with the pipeline).
_ORGANIZATION: dict[str, Any] = {
    **_SINGLE,
    "regions": ["eu-west-1", "us-east-1", "ap-southeast-2"],
    "scope_accounts": ["*"],
    "organization_id": "o-a1b2c3d4e5",
    "stackset_ous": ["ou-ab12-cd34ef56"],
}
CONFIGS: dict[str, dict[str, Any]] = {
    "one account": _SINGLE,
    "one account + pipeline": {**_SINGLE, "pipeline": _PIPELINE},
    "organization": _ORGANIZATION,
    "organization + pipeline": {
        **_ORGANIZATION,
        "pipeline": {**_PIPELINE, "stackset_account_id": "999988887777"},
    },
}


def cpu_seconds() -> float:
    """CPU time of this process and of its children still running (the jsii runtime)."""
    own = os.times()
    total = own.user + own.system
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command's closing parenthesis: state, ppid, ..., utime and stime (fields 14, 15).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(runs: int) -> dict[str, list[tuple[float, float]]]:
    """(elapsed, CPU) seconds of each synthesis, by configuration."""
    for values in CONFIGS.values():
        synthesize({"tourniquet": values})
    timed: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
    for _ in range(runs):
        for name, values in CONFIGS.items():
            began, cpu = time.perf_counter(), cpu_seconds()
            synthesize({"tourniquet": values})
            timed[name].append((time.perf_counter() - began, cpu_seconds() - cpu))
    return timed


def report(timed: dict[str, list[tuple[float, float]]]) -> str:
    runs = len(next(iter(timed.values())))
    lines = [
        f"synth: in process, no bundling, median of {runs} runs each",
        # Everything runs in this process: other work on the machine shows up in the elapsed times.
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end",
    ]
    elapsed = {name: statistics.median(e for e, _ in times) for name, times in timed.items()}
    cpu = {name: statistics.median(c for _, c in times) for name, times in timed.items()}
    for name in timed:
        lines.append(f"  {name:<24} elapsed {elapsed[name] * 1000:6.0f} ms   CPU {cpu[name] * 1000:6.0f} ms")
    for base in ("one account", "organization"):
        piped = f"{base} + pipeline"
        lines.append(
            f"  {base}: with the pipeline elapsed x{elapsed[piped] / elapsed[base]:.2f}, "
            f"CPU x{cpu[piped] / cpu[base]:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="syntheses of each configuration (median shown)")
    args = parser.parse_args(argv)
    print(report(measure(args.runs)))


if __name__ == "__main__":
    main()
