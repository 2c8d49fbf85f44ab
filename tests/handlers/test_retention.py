"""How long each kind of item stays in the table, and when an approval's task token is erased.

DynamoDB's TTL deletes an item only when ``expires_at`` is a Number of epoch seconds: each working item
carries one; incidents, their timeline and their undo records carry none (they are the audit trail).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.helpers import LAMBDA_CONTEXT, TEST_SCOPE, load_event, plan_state
from tourniquet import store
from tourniquet.approval import decisions, records
from tourniquet.approval.card import FinalState
from tourniquet.approval.model import ApprovalRequest, Decision
from tourniquet.incidents import dedup, handler
from tourniquet.incidents.keys import FoldKeys
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.reports import sent
from tourniquet.settings import Settings

DAY = 86_400
TOKEN = "AQCIAAAAKgAAAAMAAAAAAAAAA" + "t0k3n" * 100


def _alert() -> Alert:
    alert = normalize(load_event("guardduty_ec2_finding"))
    assert isinstance(alert, Alert)
    return alert


def _item(pk: str, sk: str) -> dict[str, Any]:
    item = store.table().get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True)["Item"]
    return store.plain(item)  # type: ignore[no-any-return]


def _approval_item(approval_id: str) -> dict[str, Any]:
    return _item(f"APPROVAL#{approval_id}", "APPROVAL")


def _request(incident_id: str) -> ApprovalRequest:
    alert = _alert()
    plan = {**plan_state(alert, [], Settings()), "approval": ["stop_instance"]}
    return ApprovalRequest.model_validate(
        {
            "task_token": TOKEN,
            "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1",
            "incident": {"id": incident_id},
            "alert": alert.model_dump(mode="json"),
            "plan": plan,
        }
    )


def _record(kind: str, execution_id: str, **fields: Any) -> dict[str, Any]:
    return handler.record({"kind": kind, "execution_id": execution_id, **fields}, LAMBDA_CONTEXT)


def _opened() -> str:
    return dedup.fold(_alert(), window_seconds=3600, execution_id="exec-1").id


def _number_of_seconds(item: dict[str, Any]) -> int:
    value = item["expires_at"]
    assert isinstance(value, int), f"expires_at must be epoch seconds, not {value!r}"
    return value


@pytest.mark.parametrize("days", [None, 7])
def test_an_approval_is_kept_for_the_retention_after_its_deadline(aws, monkeypatch, days):
    if days is not None:
        monkeypatch.setenv("RETENTION_DAYS", str(days))
    incident_id = _opened()

    approval = records.create(_request(incident_id))

    item = _approval_item(approval.approval_id)
    assert _number_of_seconds(item) == store.epoch(item["deadline"]) + (days or 90) * DAY
    assert item["deadline"] > item["requested_at"]


def test_a_release_offer_is_kept_for_the_retention_after_the_offer_ends(aws):
    incident_id = _opened()
    request = _request(incident_id)
    deadline = store.iso()

    offer = records.create_release(
        request.context(), FinalState(status="contained", resolution=None), deadline=deadline
    )

    assert _number_of_seconds(_approval_item(offer.approval_id)) == store.epoch(deadline) + 90 * DAY


def test_a_dedup_claim_outlives_its_window_by_a_day_and_an_execution_marker_by_a_day(aws):
    alert = _alert()
    before = int(time.time())

    dedup.fold(alert, window_seconds=3600, execution_id="exec-1")

    claim = _item(f"DEDUP#{alert.dedup_key}", "DEDUP")
    marker = _item(f"DEDUP#{alert.dedup_key}", "EXECUTION#exec-1")
    assert before + 3600 + DAY <= _number_of_seconds(claim) <= int(time.time()) + 3600 + DAY
    assert before + DAY <= _number_of_seconds(marker) <= int(time.time()) + DAY


def test_a_storm_claim_outlives_its_window_by_a_day(aws):
    alert = _alert()
    before = int(time.time())

    dedup.fold(alert, window_seconds=3600, execution_id="exec-1", keys=FoldKeys(alert.dedup_key, "storm"))

    storm = _item("STORM#storm", "STORM")
    assert before + 3600 + DAY <= _number_of_seconds(storm) <= int(time.time()) + 3600 + DAY


def test_records_of_what_ended_without_an_incident_are_kept_for_the_retention(aws):
    before = int(time.time())

    _record("ignored", "exec-1", intake={"source": "guardduty", "reason": "archived finding"})
    _record("resolved", "exec-2", resolution={"dedup_key": "nothing-open", "source": "grafana"})
    _record("failure", "exec-3", state={"error": {"Error": "InvalidAlert", "Cause": "no id"}})

    items = [item for item in store.table().scan()["Items"]]
    assert sorted(str(item["pk"]).split("#")[0] for item in items) == ["FAILURE", "IGNORED", "RESOLVED"]
    for item in map(store.plain, items):
        assert before + 90 * DAY <= _number_of_seconds(item) <= int(time.time()) + 90 * DAY


def test_a_reports_sent_mark_is_kept_for_the_retention_after_its_period_and_written_once(aws):
    period_end = "2026-12-07T08:00:00.000Z"

    sent.mark(period_end, "teams")
    first = _item(f"REPORT#{period_end}", "SENT#teams")
    sent.mark(period_end, "teams")

    assert _number_of_seconds(first) == store.epoch(period_end) + 90 * DAY
    assert _item(f"REPORT#{period_end}", "SENT#teams") == first
    assert sent.channels(period_end) == {"teams"}


def test_incidents_their_timeline_resources_and_undo_records_are_never_expired(aws):
    incident_id = _opened()
    store.put_new(
        [
            store.undo_item(
                incident_id, "isolate_network", "i-0a1b2c3d4e5f67890", {"groups": ["sg-1"]}, scope=TEST_SCOPE
            )
        ]
    )

    items = store.table().query(
        KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": store.incident_pk(incident_id)}
    )["Items"]

    assert sorted(str(item["sk"]).split("#")[0] for item in items) == [
        "EVENT",
        "INCIDENT",
        "RESOURCE",
        "UNDO",
    ]
    assert all("expires_at" not in item for item in items)


@pytest.mark.parametrize("decision", [Decision.APPROVE, Decision.DENY])
def test_the_task_token_is_erased_once_the_decision_is_delivered(aws, sfn_calls, decision):
    approval = records.create(_request(_opened()))
    assert _approval_item(approval.approval_id)["task_token"] == TOKEN

    decisions.decide(approval.approval_id, decision, "U0APPROVER")

    assert [call[0] for call in sfn_calls] == [
        "SendTaskSuccess" if decision is Decision.APPROVE else "SendTaskFailure"
    ]
    assert "task_token" not in _approval_item(approval.approval_id)


def test_the_task_token_is_erased_when_the_approval_expires(aws):
    incident_id = _opened()
    approval = records.create(_request(incident_id))
    store.update_incident(incident_id, approval_id=approval.approval_id)

    _record(
        "outcome",
        "x",
        incident={"id": incident_id},
        plan={"playbook": "p", "approval": ["stop_instance"]},
        approval={"decision": "expired"},
    )

    item = _approval_item(approval.approval_id)
    assert item["status"] == "expired"
    assert "task_token" not in item


def test_the_task_token_is_erased_when_the_run_fails_while_waiting(aws):
    incident_id = _opened()
    approval = records.create(_request(incident_id))
    store.update_incident(incident_id, approval_id=approval.approval_id)

    _record("failure", "x", state={"incident": {"id": incident_id}, "error": {"Error": "SlackUnavailable"}})

    assert "task_token" not in _approval_item(approval.approval_id)
