"""The workflow definition is valid ASL that moto's engine and Step Functions both run (JSONPath only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

State = dict[str, Any]
Scope = dict[str, State]

JSONATA_FIELDS = {"Assign", "Arguments", "Output"}


def scopes(machine: dict[str, Any], nested: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every state list (``StartAt`` and ``States``): the machine's, each Parallel branch's and Map's."""
    yield machine, nested
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            yield from scopes(branch, nested=True)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            yield from scopes(processor, nested=True)


def all_states(machine: dict[str, Any]) -> Iterator[tuple[str, State, bool]]:
    for scope, nested in scopes(machine):
        for name, state in scope["States"].items():
            yield name, state, nested


def transitions(state: State) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


def test_every_transition_names_a_state_of_its_own_scope(asl: dict[str, Any]) -> None:
    for scope, _ in scopes(asl):
        names = set(scope["States"])
        assert scope["StartAt"] in names
        for name, state in scope["States"].items():
            for target in transitions(state):
                assert target in names, f"{name} goes to missing state {target}"


def test_every_state_is_reachable(asl: dict[str, Any]) -> None:
    for scope, _ in scopes(asl):
        seen: set[str] = set()
        pending = [scope["StartAt"]]
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(transitions(scope["States"][name]))
        assert seen == set(scope["States"]), f"unreachable: {sorted(set(scope['States']) - seen)}"


def test_top_level_tasks_retry_and_catch(asl: dict[str, Any]) -> None:
    for name, state, nested in all_states(asl):
        if state["Type"] == "Task" and not nested:
            assert state.get("Retry"), f"{name} has no Retry"
            assert state.get("Catch"), f"{name} has no Catch"


def test_tasks_inside_map_and_parallel_retry(asl: dict[str, Any]) -> None:
    nested_tasks = [
        (name, state) for name, state, nested in all_states(asl) if nested and state["Type"] == "Task"
    ]
    assert nested_tasks
    for name, state in nested_tasks:
        assert state.get("Retry"), f"{name} has no Retry"


def test_top_level_map_and_parallel_catch(asl: dict[str, Any]) -> None:
    found = [
        (name, state)
        for name, state, nested in all_states(asl)
        if not nested and state["Type"] in ("Map", "Parallel")
    ]
    assert found
    for name, state in found:
        assert state.get("Catch"), f"{name} has no Catch"


def test_every_choice_has_a_default(asl: dict[str, Any]) -> None:
    choices = [(name, state) for name, state, _ in all_states(asl) if state["Type"] == "Choice"]
    assert choices
    for name, state in choices:
        assert "Default" in state, f"{name} has no Default"


def test_jsonpath_only(asl: dict[str, Any]) -> None:
    assert asl.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state, _ in all_states(asl):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
        assert not JSONATA_FIELDS & set(state), f"{name} uses {sorted(JSONATA_FIELDS & set(state))}"


def test_task_timeouts_are_caught_with_heartbeat_timeouts(asl: dict[str, Any]) -> None:
    for name, state, _ in all_states(asl):
        for catcher in state.get("Catch", []):
            if "States.Timeout" in catcher["ErrorEquals"]:
                assert "States.HeartbeatTimeout" in catcher["ErrorEquals"], name


def test_waiting_for_a_person_is_time_bounded(asl: dict[str, Any]) -> None:
    waits = [
        (name, state)
        for name, state, _ in all_states(asl)
        if state["Type"] == "Task" and state["Resource"].endswith(".waitForTaskToken")
    ]
    assert waits
    for name, state in waits:
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
