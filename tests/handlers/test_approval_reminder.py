"""The reminder between the approval's two waits: a fresh token, a thread reminder and a page; or, when
someone decided while the workflow was between its waits, that decision delivered under the fresh token."""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY, Stubber

from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    approval_item,
    click_payload,
    interact,
    kinds,
    request_card,
    slack_request,
)
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import handler
from tourniquet.errors import ApprovalExpired

NEXT_TOKEN = "AQCIAAAAKgAAAAMAAAAAAAAAB" + "n3xt" * 300


def remind() -> dict[str, object]:
    return handler.request_approval(
        {"reminder": True, "task_token": NEXT_TOKEN, "incident_id": INCIDENT_ID, "execution_id": "run-1"},
        CONTEXT,
    )


def test_an_undecided_approval_gets_the_next_token_a_thread_reminder_and_a_page(slack, sfn_calls):
    approval = request_card()
    slack.pages()

    result = remind()

    assert result == {"approval_id": approval["approval_id"], "reminded": True}
    assert approval_item(approval["approval_id"])["task_token"] == NEXT_TOKEN
    assert approval_item(approval["approval_id"])["status"] == "pending"
    [reminder] = [m for m in slack.fake.messages() if m.thread_ts == approval["slack_ts"]]
    assert "Still waiting for a decision on stop_instance" in reminder.text
    [page] = slack.pages()
    assert page["event"] == "approval_reminder"
    assert page["incident_id"] == INCIDENT_ID
    assert NEXT_TOKEN not in json.dumps(page)
    assert kinds()[-1] == "approval_reminder"
    assert sfn_calls == []


def test_a_click_between_the_waits_is_kept_and_delivered_under_the_next_token(slack):
    approval = request_card()
    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="TaskTimedOut")
        response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert approval_item(approval["approval_id"])["status"] == "approved"
    assert kinds()[-1] == "decision"

    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": NEXT_TOKEN, "output": ANY})
        result = remind()
        stub.assert_no_pending_responses()

    assert result == {"approval_id": approval["approval_id"], "reminded": False}


def test_a_denial_between_the_waits_is_delivered_as_a_denial(slack, sfn_calls):
    approval = request_card()
    store.table().update_item(
        Key={"pk": f"APPROVAL#{approval['approval_id']}", "sk": "APPROVAL"},
        UpdateExpression="SET #s = :denied, decided_by = :by, decided_at = :at",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":denied": "denied", ":by": APPROVER, ":at": store.iso()},
    )

    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_failure", {})
        remind()
        stub.assert_no_pending_responses()


def test_an_approval_past_its_time_fails_the_reminder_as_expired(slack, sfn_calls):
    approval = request_card()
    store.table().update_item(
        Key={"pk": f"APPROVAL#{approval['approval_id']}", "sk": "APPROVAL"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": "2000-01-01T00:00:00.000Z"},
    )

    with pytest.raises(ApprovalExpired):
        remind()

    assert approval_item(approval["approval_id"])["task_token"] != NEXT_TOKEN
    assert sfn_calls == []
