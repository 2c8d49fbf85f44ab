"""Facts the stack reads from the workflow definition (the ASL file), so that it never keeps a second copy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

CALLBACK_SUFFIX = ".waitForTaskToken"


class DefinitionError(ValueError):
    """The workflow definition lacks something the stack depends on."""


def placeholders(definition: str) -> set[str]:
    """The ``${Name}`` placeholders of an ASL definition."""
    return set(re.findall(r"\$\{(\w+)\}", definition))


def _states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            yield from _states(processor)


def approval_expiry_state(definition: str) -> tuple[str, str]:
    """The state entered when an approval has waited out every timeout, as ``(name, type)``.

    Each callback task (``….waitForTaskToken``) must catch ``States.Timeout``. Its catcher may lead to another
    callback task (a reminder that waits again); the chain must end in one state, the same for every callback
    task. The alarm on expired approvals watches for executions entering that state.
    """
    states = dict(_states(json.loads(definition)))
    callbacks = {
        name: state
        for name, state in states.items()
        if state["Type"] == "Task" and str(state.get("Resource", "")).endswith(CALLBACK_SUFFIX)
    }
    if not callbacks:
        raise DefinitionError(f"no {CALLBACK_SUFFIX} task: nothing waits for an approval")

    def on_timeout(name: str) -> str:
        targets = [
            catcher["Next"]
            for catcher in callbacks[name].get("Catch", [])
            if "States.Timeout" in catcher["ErrorEquals"]
        ]
        if not targets:
            raise DefinitionError(f"{name} does not catch States.Timeout")
        return str(targets[0])

    ends = set()
    for start in callbacks:
        seen = [start]
        target = on_timeout(start)
        while target in callbacks:
            if target in seen:
                raise DefinitionError(f"the timeouts of {', '.join(seen)} lead back to {target}")
            seen.append(target)
            target = on_timeout(target)
        ends.add(target)
    if len(ends) != 1:
        raise DefinitionError(f"approvals expire into several states: {', '.join(sorted(ends))}")
    (end,) = ends
    return end, str(states[end]["Type"])
