"""One synthesis per configuration for the whole test run, whatever the number of workers.

Synthesizing the app with cdk-nag takes seconds of jsii and node: each xdist worker that needs a synthesis
takes it from a file written once, under a lock, and keyed by everything the synthesis reads.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.deploy import synth_cache_key
from stacks.synth import Synthesis

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "tourniquet"
# What a synthesis reads: the app, its config, the stacks, the workflow definitions and the function code
# (whose asset hash is in the template).
INPUTS = ("app.py", "cdk.json", "stacks", "statemachines", "lambdas")
LIBRARIES = ("aws-cdk-lib", "cdk-nag")


def cache_key(name: str, overrides: Mapping[str, Any] | None) -> str:
    return synth_cache_key(
        {"name": name, "overrides": overrides or {}}, root=REPO_ROOT, inputs=INPUTS, libraries=LIBRARIES
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_synthesis(
    name: str, overrides: Mapping[str, Any] | None, synthesize: Callable[[], Synthesis]
) -> Synthesis:
    """The synthesis of configuration ``name``: read from the cache, or made once and written there."""
    key = cache_key(name, overrides)
    cached = CACHE_DIR / f"infra-{name}-{key}.json"
    with _locked(CACHE_DIR / f".infra-{name}.lock"):
        if cached.is_file():
            data = json.loads(cached.read_text())
            # JSON has no sets: the stacks each stack depends on come back as lists.
            data["dependencies"] = {stack: frozenset(names) for stack, names in data["dependencies"].items()}
            return Synthesis(**data)
        synthesis = synthesize()
        handle, temporary = tempfile.mkstemp(dir=CACHE_DIR, prefix=".infra-", suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(dataclasses.asdict(synthesis), out, default=sorted)
        Path(temporary).replace(cached)
        for stale in CACHE_DIR.glob(f"infra-{name}-*.json"):
            if stale != cached:
                stale.unlink(missing_ok=True)
        return synthesis
