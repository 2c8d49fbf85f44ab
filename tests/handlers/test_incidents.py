import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.helpers import LAMBDA_CONTEXT, Recorded, load_event, recording_calls
from tourniquet import store
from tourniquet.incidents import dedup, handler
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.state import IncidentRef


def _record(kind: str, execution_id: str, **fields: Any) -> dict[str, Any]:
    """The Record step, as the workflow calls it."""
    return handler.record({"kind": kind, "execution_id": execution_id, **fields}, LAMBDA_CONTEXT)


def _copies(incident_id: str) -> int:
    """How many copies the incident's timeline records (one duplicate event each)."""
    return sum(e["kind"] == "duplicate" for e in store.timeline(incident_id))


def _claim(alert: Alert) -> dict[str, Any]:
    item = store.table().get_item(Key={"pk": f"DEDUP#{alert.dedup_key}", "sk": "DEDUP"}, ConsistentRead=True)
    return dict(store.plain(item["Item"]))


def _alert(**detail_changes) -> Alert:
    event = load_event("guardduty_ec2_finding")
    event["detail"].update(detail_changes)
    alert = normalize(event)
    assert isinstance(alert, Alert)
    return alert


def test_first_alert_opens_an_incident(aws):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")

    incident = store.get_incident(folded.id)
    assert folded.duplicate is False
    assert incident["status"] == "open"
    assert _claim(_alert())["duplicates"] == 0
    assert incident["alert"]["finding_id"] == "92cc3f3c6d1f4a6bb51a7c3f1e0a1b2c"
    assert incident["gsi1pk"] == "TYPE#CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert incident["gsi1sk"] == incident["first_seen"]
    assert [e["kind"] for e in store.timeline(folded.id)] == ["opened"]


def test_same_problem_within_the_window_is_a_duplicate(aws):
    first = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    second = dedup.fold(_alert(id="another-finding"), window_seconds=3600, execution_id="exec-2")

    assert second.duplicate is True
    assert second.id == first.id
    assert _copies(first.id) == 1
    assert [e["kind"] for e in store.timeline(first.id)] == ["opened", "duplicate"]


def test_after_the_window_a_new_finding_opens_a_new_incident(aws, monkeypatch):
    first = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    later = dedup.time.time() + 7200
    monkeypatch.setattr(dedup.time, "time", lambda: later)

    second = dedup.fold(_alert(id="another-finding"), window_seconds=3600, execution_id="exec-2")

    assert second.duplicate is False
    assert second.id != first.id


def test_resent_guardduty_finding_folds_even_after_the_window(aws, monkeypatch):
    first = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    later = dedup.time.time() + 6 * 3600
    monkeypatch.setattr(dedup.time, "time", lambda: later)

    update = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-2")

    assert update.duplicate is True
    assert update.id == first.id


def test_concurrent_identical_alerts_open_exactly_one_incident(aws, atomic_items):
    results: list[IncidentRef] = []
    barrier = threading.Barrier(8)

    def fold(n: int) -> None:
        barrier.wait()
        results.append(dedup.fold(_alert(), window_seconds=3600, execution_id=f"exec-{n}"))

    threads = [threading.Thread(target=fold, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len({r.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert _copies(results[0].id) == 7


def test_a_retried_deduplicate_answers_its_own_incident_not_a_duplicate(aws):
    first = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    retried = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")

    assert retried == first
    assert retried.duplicate is False
    assert _copies(first.id) == 0
    assert [e["kind"] for e in store.timeline(first.id)] == ["opened"]


def test_a_retried_duplicate_is_counted_once(aws):
    first = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    duplicate = dedup.fold(_alert(id="again"), window_seconds=3600, execution_id="exec-2")
    retried = dedup.fold(_alert(id="again"), window_seconds=3600, execution_id="exec-2")

    assert retried == duplicate
    assert retried.id == first.id
    assert _copies(first.id) == 1
    assert [e["kind"] for e in store.timeline(first.id)] == ["opened", "duplicate"]


@contextmanager
def failing_incident_writes() -> Iterator[None]:
    """DynamoDB refuses every write request that touches an incident item (a transaction fails whole)."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if "INCIDENT#" in json.dumps(params, default=str):
            error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
            raise ClientError(error, "Write")

    client = store.table().meta.client
    events = [f"before-call.dynamodb.{op}" for op in ("PutItem", "UpdateItem", "TransactWriteItems")]
    for event in events:
        client.meta.events.register(event, refuse)
    try:
        yield
    finally:
        for event in events:
            client.meta.events.unregister(event, refuse)


def test_an_incident_that_could_not_be_written_leaves_no_claim_behind(aws):
    with failing_incident_writes(), pytest.raises(ClientError):
        dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")

    resent = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-2")

    assert resent.duplicate is False
    assert store.get_incident(resent.id)["status"] == "open"
    assert [e["kind"] for e in store.timeline(resent.id)] == ["opened"]


def test_a_claim_without_its_incident_opens_a_new_incident_in_its_place(aws):
    alert = _alert()
    now = int(dedup.time.time())
    # A claim as two separate writes could leave it: the incident write never landed.
    store.table().put_item(
        Item={
            "pk": f"DEDUP#{alert.dedup_key}",
            "sk": "DEDUP",
            "incident_id": "inc-neverwritten",
            "finding_id": alert.finding_id,
            "first_seen": now,
            "last_seen": now,
            "duplicates": 0,
        }
    )

    resent = dedup.fold(alert, window_seconds=3600, execution_id="exec-2")
    again = dedup.fold(_alert(id="again"), window_seconds=3600, execution_id="exec-3")

    assert resent.duplicate is False
    assert resent.id != "inc-neverwritten"
    assert store.get_incident(resent.id)["status"] == "open"
    assert (again.duplicate, again.id) == (True, resent.id)


def _alert_about(instance_id: str, **detail_changes: Any) -> Alert:
    """An alert with a dedup key of its own (about another instance), which this process has not folded."""
    event = load_event("guardduty_ec2_finding")
    event["detail"].update(detail_changes)
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    alert = normalize(event)
    assert isinstance(alert, Alert)
    return alert


def test_the_table_is_made_once_per_thread_and_table_name(aws, monkeypatch):
    table = store.table()
    monkeypatch.setenv("TABLE_NAME", "another-table")

    assert store.table().name == "another-table"
    monkeypatch.setenv("TABLE_NAME", table.name)
    assert store.table() is table


def test_a_duplicate_costs_one_dynamodb_round_trip(aws, monkeypatch):
    first = dedup.fold(_alert_about("i-0d0d0d0d0d0d0d001"), window_seconds=3600, execution_id="exec-1")
    calls: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))

    duplicate = dedup.fold(
        _alert_about("i-0d0d0d0d0d0d0d001", id="again"), window_seconds=3600, execution_id="exec-2"
    )

    assert (duplicate.duplicate, duplicate.id, duplicate.duplicate_count) == (True, first.id, 1)
    assert [operation for _, operation, _ in calls] == ["TransactWriteItems"]
    # The one transaction keeps every guarantee: the execution's marker, the claim, the count, the event.
    assert _copies(first.id) == 1
    assert [e["kind"] for e in store.timeline(first.id)] == ["opened", "duplicate"]
    assert (
        dedup.fold(
            _alert_about("i-0d0d0d0d0d0d0d001", id="again"), window_seconds=3600, execution_id="exec-2"
        )
        == duplicate
    )


def test_a_remembered_claim_that_another_container_replaced_never_folds_into_the_old_incident(
    aws, monkeypatch
):
    alert = _alert_about("i-0d0d0d0d0d0d0d002")
    first = dedup.fold(alert, window_seconds=3600, execution_id="exec-1")
    # Past the window another container opened a new incident for the key; this one still remembers the old.
    remembered = dedup._claims.recall(f"DEDUP#{alert.dedup_key}", store.table().name)
    later = int(dedup.time.time()) + 7200
    monkeypatch.setattr(dedup.time, "time", lambda: later)
    monkeypatch.setattr(dedup._claims, "recall", lambda *_: None)
    second = dedup.fold(
        _alert_about("i-0d0d0d0d0d0d0d002", id="new-finding"), window_seconds=3600, execution_id="exec-2"
    )
    monkeypatch.setattr(dedup._claims, "recall", lambda *_: {**remembered, "last_seen": later})

    copy = dedup.fold(
        _alert_about("i-0d0d0d0d0d0d0d002", id="new-finding"), window_seconds=3600, execution_id="exec-3"
    )

    assert second.id != first.id
    assert (copy.duplicate, copy.id) == (True, second.id)
    assert _copies(first.id) == 0
    assert _copies(second.id) == 1


def test_a_remembered_claim_that_is_gone_opens_a_new_incident(aws, monkeypatch):
    alert = _alert_about("i-0d0d0d0d0d0d0d003")
    first = dedup.fold(alert, window_seconds=3600, execution_id="exec-1")
    store.table().delete_item(Key={"pk": f"DEDUP#{alert.dedup_key}", "sk": "DEDUP"})

    again = dedup.fold(alert, window_seconds=3600, execution_id="exec-2")

    assert again.duplicate is False
    assert again.id != first.id


PLAN = {
    "playbook": "guardduty-ec2-instance",
    "automatic": ["isolate_network"],
    "approval": ["stop_instance"],
    "target": {"id": "i-1"},
}


@pytest.mark.parametrize(
    ("decision", "status"),
    [("approve", "contained"), ("deny", "denied"), ("expired", "expired")],
)
def test_outcome_status_follows_the_decision(aws, decision, status):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    store.append_event(
        folded.id,
        "action",
        action="isolate_network",
        target="i-1",
        mode="auto",
        status="done",
        verified=True,
    )

    result = _record(
        "outcome", "exec-1", incident={"id": folded.id}, plan=PLAN, approval={"decision": decision}
    )

    assert result["status"] == status
    assert store.get_incident(folded.id)["status"] == status
    assert result["actions"] == [
        {"name": "isolate_network", "mode": "auto", "status": "done", "target": "i-1", "verified": True},
        {
            "name": "stop_instance",
            "mode": "approval",
            "status": "not_run",
            "target": "i-1",
            "verified": False,
        },
    ]


def test_expiry_closes_a_pending_approval_so_a_late_click_cannot_use_it(aws):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    store.table().put_item(Item={"pk": "APPROVAL#ap-1", "sk": "APPROVAL", "status": "pending"})
    store.update_incident(folded.id, approval_id="ap-1")

    _record("outcome", "exec-1", incident={"id": folded.id}, plan=PLAN, approval={"decision": "expired"})

    item = store.table().get_item(Key={"pk": "APPROVAL#ap-1", "sk": "APPROVAL"})["Item"]
    assert item["status"] == "expired"


def test_failure_is_recorded_on_the_incident(aws):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    state = {
        "incident": {"id": folded.id},
        "error": {"Error": "ContainmentFailed", "Cause": "isolate_network: boom"},
    }

    result = _record("failure", "exec-1", state=state)

    assert result["status"] == "failed"
    assert store.get_incident(folded.id)["status"] == "failed"
    # The failure is the last change recorded; its announcements (SIEM, Security Hub) follow it.
    assert _changes(folded.id)[-1]["error"] == "ContainmentFailed"


def test_failure_before_an_incident_exists_is_still_recorded(aws):
    _record("failure", "exec-9", state={"error": {"Error": "InvalidAlert", "Cause": "detail.id: missing"}})

    items = store.table().scan()["Items"]
    assert [(i["error"], i["execution_id"]) for i in items if i["pk"].startswith("FAILURE#")] == [
        ("InvalidAlert", "exec-9")
    ]


def test_ignored_event_is_recorded_with_its_reason(aws):
    _record(
        "ignored",
        "exec-3",
        intake={"outcome": "ignored", "source": "guardduty", "reason": "archived finding"},
    )

    items = store.table().scan()["Items"]
    assert [i["reason"] for i in items if i["pk"].startswith("IGNORED#")] == ["archived finding"]


def _alerted_incident() -> IncidentRef:
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    store.update_incident(folded.id, status="alerted")
    return folded


def test_a_resolution_resolves_its_incident_and_frees_the_key(aws):
    folded = _alerted_incident()

    result = _record(
        "resolved",
        "exec-2",
        resolution={"dedup_key": folded.dedup_key, "source": "cloudwatch", "reason": "alarm back to OK"},
    )
    after = dedup.fold(_alert(id="next-firing"), window_seconds=3600, execution_id="exec-3")

    assert result == {"status": "resolved", "incident_id": folded.id}
    assert store.get_incident(folded.id)["status"] == "resolved"
    assert _changes(folded.id)[-1]["kind"] == "resolved"
    assert after.duplicate is False
    assert after.id != folded.id


def test_a_resolution_keeps_the_status_of_a_contained_incident(aws):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    store.update_incident(folded.id, status="contained")

    _record("resolved", "exec-2", resolution={"dedup_key": folded.dedup_key, "source": "guardduty"})

    incident = store.get_incident(folded.id)
    assert incident["status"] == "contained"
    assert "resolved_at" in incident


def test_a_resolution_with_no_incident_is_still_recorded(aws):
    result = _record("resolved", "x", resolution={"dedup_key": "nothing-open", "source": "grafana"})

    assert result == {"status": "resolved"}
    assert [i["pk"][:9] for i in store.table().scan()["Items"]] == ["RESOLVED#"]


def test_a_dry_run_ends_planned_not_contained(aws):
    folded = dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1")
    store.append_event(folded.id, "action", action="isolate_network", target="i-1", status="planned")

    result = _record(
        "outcome",
        "exec-1",
        incident={"id": folded.id},
        plan={**PLAN, "dry_run": True},
        approval={"decision": "approve"},
    )

    assert result["status"] == "planned"
    assert store.get_incident(folded.id)["status"] == "planned"


def _changes(incident_id: str) -> list[dict[str, Any]]:
    """The incident's timeline without the announcements of its changes."""
    return [e for e in store.timeline(incident_id) if e["kind"] not in ("siem", "securityhub")]
