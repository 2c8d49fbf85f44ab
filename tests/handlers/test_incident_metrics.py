"""NotifyOutcome and NotifyFailure publish the incident's figures once, as EMF, by playbook and outcome."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.handlers.approvals import (
    CONTEXT,
    INCIDENT_ID,
    open_incident,
)
from tourniquet import store
from tourniquet.incidents import measures
from tourniquet.notify import handler

RELEASE_WORKFLOW = Path(__file__).resolve().parents[2] / "statemachines" / "release_incident.asl.json"


def emitted(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines a function printed."""
    documents = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [document for document in documents if "_aws" in document]


def opened_seconds_ago(seconds: float) -> None:
    open_incident()
    store.update_incident(INCIDENT_ID, playbook="guardduty-ec2-instance")
    opened = store.now() - timedelta(seconds=seconds)
    store.table().put_item(Item=store.event_item(INCIDENT_ID, "opened", at=store.iso(opened)))
    contained = opened + timedelta(seconds=2)
    store.table().put_item(
        Item=store.event_item(
            INCIDENT_ID, "action", at=store.iso(contained), mode="auto", status="done", verified=True
        )
    )


OUTCOME = {
    "kind": "outcome",
    "incident": {"id": INCIDENT_ID, "dedup_key": "k"},
    "outcome": {"status": "contained", "approval": {"decision": "not_required"}},
}


def test_the_outcome_publishes_the_figures_once_though_the_step_is_retried(slack, capsys):
    opened_seconds_ago(30)

    handler.notify(OUTCOME, CONTEXT)
    handler.notify(OUTCOME, CONTEXT)

    [document] = emitted(capsys.readouterr().out)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == measures.NAMESPACE
    assert directive["Dimensions"] == [["service"], list(measures.DIMENSIONS)]
    assert (document["service"], document["playbook"], document["outcome"]) == (
        measures.SERVICE,
        "guardduty-ec2-instance",
        "contained",
    )
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units == {
        measures.INCIDENTS_CLOSED: "Count",
        measures.TIME_TO_NOTIFY: "Seconds",
        measures.TIME_TO_CONTAIN: "Seconds",
    }
    assert document[measures.INCIDENTS_CLOSED] == [1]
    assert document[measures.TIME_TO_CONTAIN] == [2.0]
    [notified] = document[measures.TIME_TO_NOTIFY]
    # Told by the outcome notice itself (no card was posted): about the 30 s since the opening.
    assert 30 <= notified < 40
    incident = store.get_incident(INCIDENT_ID)
    assert incident is not None
    assert incident["measures"] == {
        measures.TIME_TO_CONTAIN: 2.0,
        measures.TIME_TO_NOTIFY: notified,
    }


def test_a_failed_run_is_counted_as_failed_and_a_failed_release_is_not_counted(slack, capsys):
    opened_seconds_ago(5)
    failure = {"kind": "failure", "state": {"incident": {"id": INCIDENT_ID}, "error": {"Error": "X"}}}

    handler.notify({**failure, "state": {**failure["state"], "approval_id": "release-1"}}, CONTEXT)
    assert emitted(capsys.readouterr().out) == []

    handler.notify(failure, CONTEXT)
    [document] = emitted(capsys.readouterr().out)
    assert document["outcome"] == "failed"
    assert document[measures.TIME_TO_CONTAIN] == [2.0]


def test_a_failed_release_started_from_the_cli_is_not_counted(slack, capsys):
    """`tourniquet release` starts the release workflow without an approval: its failure notice is still
    marked as a release's by the workflow's own NotifyReleaseFailed parameters."""
    opened_seconds_ago(5)
    machine = json.loads(RELEASE_WORKFLOW.read_text(encoding="utf-8"))
    parameters = machine["States"]["NotifyReleaseFailed"]["Parameters"]
    state = {"incident": {"id": INCIDENT_ID}, "approval_id": None, "error": {"Error": "ReleaseFailed"}}
    # As Step Functions builds the task input: constants as written, `.$` paths read from the state.
    notice = {key: value for key, value in parameters.items() if not key.endswith(".$")}
    notice |= {"state": state, "execution_id": "arn:aws:states:us-east-1:1:execution:release:x"}

    handler.notify(notice, CONTEXT)

    assert emitted(capsys.readouterr().out) == []
    assert "measured_at" not in (store.get_incident(INCIDENT_ID) or {})
