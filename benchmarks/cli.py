"""How quickly the command answers: `tourniquet --help` and a command's help, in fresh processes.

    python -m benchmarks.cli [--runs N]

Each figure is the median wall time of a new Python process running the installed command, from start to
exit, beside the interpreter's own start (the floor no command can go below).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = (
    ["--help"],
    ["--version"],
    ["plan", "--help"],
    ["incident", "list", "--help"],
)


def _seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our own entry point
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="processes per figure (default 9)")
    args = parser.parse_args()
    tourniquet = shutil.which("tourniquet") or sys.exit("the tourniquet command is not installed")
    floor = _seconds([sys.executable, "-c", "pass"], args.runs)
    print(f"tourniquet command start-up, median of {args.runs} processes")
    print(f"  python -c pass                {floor * 1000:6.0f} ms")
    for command in COMMANDS:
        seconds = _seconds([tourniquet, *command], args.runs)
        print(f"  tourniquet {' '.join(command):<18} {seconds * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
