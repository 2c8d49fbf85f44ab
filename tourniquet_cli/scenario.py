"""Run alerts through the real workflow in the embedded sandbox and report what happened to each."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sandbox.core import Sandbox
from sandbox.slack import SlackMessage
from stacks.config import load_config, project_context
from stacks.rules import route, rules
from tourniquet import store

# "manual": a person presses the card's buttons (on the incident page), nothing clicks for them.
Decision = Literal["approve", "deny", "timeout", "manual"]

# A timed-out approval must expire quickly in the sandbox: the configured timeout is compressed to this.
TIMEOUT_SCENARIO_SECONDS = 2.0
EXECUTION_TIMEOUT_SECONDS = 120.0
RULE_DELIVERY_SECONDS = 3.0


@dataclass
class Progress:
    """Callbacks for a live display; the defaults do nothing."""

    step: Callable[[str], None] = lambda _message: None
    # Told each execution's ARN as it starts (the incident page follows it).
    started: Callable[[str], None] = lambda _execution_arn: None


@dataclass
class Timings:
    started: float = 0.0
    card_posted: float | None = None
    clicked: float | None = None
    finished: float | None = None


@dataclass
class AlertRun:
    file: str
    result: dict[str, Any] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)


@contextmanager
def sandbox_for(
    decision: Decision, *, model: bool = False, on_stage: Callable[[str, float], None] | None = None
) -> Iterator[Sandbox]:
    """A running sandbox; for the timeout scenario the configured approval wait is compressed to seconds.
    With ``model`` the verdicts are raised by the sandbox's stand-in for Bedrock's Converse API;
    ``on_stage`` hears of each start-up stage as it ends, with its seconds."""
    scale = TIMEOUT_SCENARIO_SECONDS / _approval_timeout() if decision == "timeout" else 1.0
    with Sandbox(time_scale=scale, model=model, on_stage=on_stage) as sandbox:
        yield sandbox


def _approval_timeout() -> int:
    return load_config(project_context()).approval_timeout_seconds


def run_alert(
    sandbox: Sandbox,
    path: Path,
    event: dict[str, Any],
    decision: Decision,
    progress: Progress | None = None,
    *,
    via_rules: bool = True,
) -> AlertRun:
    progress = progress or Progress()
    run = AlertRun(file=str(path))
    event, mapping = sandbox.map_alert(event)
    if mapping:
        progress.step("Look-alikes: " + ", ".join(f"{a} → {b}" for a, b in mapping.items()))
    run.timings.started = time.perf_counter()
    execution_arn = submit(sandbox, event) if via_rules else sandbox.start_execution(event)
    if execution_arn is None:
        # Which filter of the deployed rules dropped it, named as `tourniquet plan` names it.
        why = route(event, rules(load_config(project_context()))).reason
        run.result = _filtered(mapping, why)
        progress.step(f"No rule matched: {why}")
        return run
    progress.started(execution_arn)
    progress.step("Alert submitted: execution started")

    card = wait_for_card_or_end(sandbox, execution_arn)
    if card is not None:
        run.timings.card_posted = time.perf_counter()
        progress.step("Approval card posted to Slack")
        if decision == "timeout":
            progress.step("Nobody answers: waiting for the approval to expire")
        elif decision == "manual":
            progress.step("Waiting for your decision on the incident page")
        else:
            run.timings.clicked = time.perf_counter()
            status, _body = sandbox.click(card, decision)
            progress.step(f"{decision.capitalize()} clicked by {sandbox.approver.id} (HTTP {status})")

    # A person may take until the approval expires (the workflow then ends by itself).
    timeout = EXECUTION_TIMEOUT_SECONDS + (_approval_timeout() if decision == "manual" else 0)
    execution = sandbox.wait_for_execution(execution_arn, timeout=timeout)
    run.timings.finished = time.perf_counter()
    run.result = report(sandbox, execution, mapping)
    progress.step(f"Incident {run.result['incident_id']}: {run.result['status']}")
    return run


def submit(sandbox: Sandbox, event: dict[str, Any]) -> str | None:
    """EventBridge events go through the deployed rules, as in AWS; anything else starts the workflow at once.

    Returns the execution ARN, or None when no rule matched the event.
    """
    if not {"source", "detail-type", "detail"} <= event.keys():
        return sandbox.start_execution(event)
    before = len(sandbox.bridge.delivered())
    sandbox.put_event(event)
    try:
        delivered = sandbox.bridge.wait_for(before + 1, timeout=RULE_DELIVERY_SECONDS)
    except TimeoutError:
        return None
    return delivered[-1].execution_arn


def wait_for_card_or_end(sandbox: Sandbox, execution_arn: str) -> SlackMessage | None:
    """The approval card, or None once the execution ends without asking for one."""
    deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
    stepfunctions = sandbox.client("stepfunctions")
    while time.monotonic() < deadline:
        try:
            # A post wakes this at once (the fake Slack signals each); the end is checked twice a second.
            card = sandbox.wait_for_card(execution_arn, timeout=0.5)
        except TimeoutError:
            card = None
        # An incident nothing was done for has a card too, with an Acknowledge button: nothing waits for it.
        if card is not None and any(e.get("action_id") == "approve" for _, e in card.buttons()):
            return card
        if stepfunctions.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            return None
        if card is not None:
            time.sleep(0.1)
    raise TimeoutError(f"{execution_arn}: neither a card nor an end within {EXECUTION_TIMEOUT_SECONDS}s")


def approval_card(sandbox: Sandbox, incident_id: str) -> dict[str, Any] | None:
    """The incident's card in the channel as first posted, buttons included (later updates replace them)."""
    for message in sandbox.slack.messages():
        if message.thread_ts is None and message.mentions(incident_id):
            return message.revisions[0] if message.revisions else message.to_api()
    return None


def report(sandbox: Sandbox, execution: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """The JSON object `simulate --json` prints for one alert."""
    output = json.loads(execution.get("output") or "{}")
    history = sandbox.execution_history(execution["executionArn"])
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    incident_id = (
        (output.get("incident") or {}).get("id")
        or (output.get("record") or {}).get("incident_id")
        or _incident_from_history(history)
    )
    incident = store.get_incident(incident_id) if incident_id else None
    outcome = output.get("outcome") if isinstance(output.get("outcome"), dict) else {}

    if execution["status"] != "SUCCEEDED":
        status = "failed"
    elif output.get("outcome") in ("ignored", "resolved"):
        status = output["outcome"]
    elif (output.get("incident") or {}).get("duplicate"):
        status = "duplicate"
    else:
        status = outcome.get("status") or (incident or {}).get("status", "failed")

    approval = outcome.get("approval") or {}
    timeline = store.timeline(incident_id) if incident_id else []
    return {
        "incident_id": incident_id,
        "status": status,
        "reason": output.get("reason"),
        "playbook": (output.get("plan") or {}).get("playbook") or (incident or {}).get("playbook"),
        "actions": outcome.get("actions", []),
        "approval": {"decision": approval.get("decision"), "by": approval.get("by")},
        "execution": {
            "arn": execution["executionArn"],
            "status": execution["status"],
            "transitions": transitions,
        },
        "mapping": mapping,
        "verdict": (incident or {}).get("verdict"),
        "siem": [
            {key: event[key] for key in ("change", "envelope_id", "message_id", "error") if key in event}
            for event in timeline
            if event.get("kind") == "siem"
        ],
        "securityhub": _write_backs(sandbox, incident),
        "channels": _channels(sandbox, incident_id, timeline),
        "timeline": timeline,
    }


def _channels(sandbox: Sandbox, incident_id: str | None, timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """What the PagerDuty and Teams stand-ins received about the incident, and what any channel failed."""
    if not incident_id:
        return {}
    return {
        "pagerduty": [action for action, _key in sandbox.channels.events(incident_id)],
        "teams": sum(1 for r in sandbox.channels.received("teams", incident=incident_id) if r.ok),
        "errors": [
            f"{e.get('channel')}: {e.get('error')}" for e in timeline if e.get("kind") == "channel_error"
        ],
    }


def _write_backs(sandbox: Sandbox, incident: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The status updates Security Hub received for the incident's finding (the sandbox answers them)."""
    ref = ((incident or {}).get("alert") or {}).get("securityhub") or {}
    return [call.as_report() for call in sandbox.securityhub.calls(ref["id"])] if ref.get("id") else []


def _filtered(mapping: dict[str, str], why: str) -> dict[str, Any]:
    return {
        "incident_id": None,
        "status": "ignored",
        "reason": f"no EventBridge rule matched: {why}",
        "playbook": None,
        "actions": [],
        "approval": {"decision": None, "by": None},
        "execution": None,
        "mapping": mapping,
        "verdict": None,
        "siem": [],
        "securityhub": [],
        "timeline": [],
    }


def _incident_from_history(history: list[dict[str, Any]]) -> str | None:
    """A failed execution has no output; the incident it opened is in the Deduplicate step's output."""
    for event in history:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Deduplicate":
            incident = json.loads(details.get("output") or "{}").get("incident") or {}
            return incident.get("id")
    return None
