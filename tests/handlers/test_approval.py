"""RequestApproval and the Slack interaction endpoint, against moto and the fake Slack Web API.

Requests are signed with slack-sdk's own signer and sent as the HTTP API sends them (payload format 2.0).
Every rejection checks that neither the approval nor the incident changed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    INSTANCE,
    STRANGER,
    TOKEN,
    approval_event,
    approval_item,
    click_payload,
    closed_port,
    ephemeral_texts,
    interact,
    kinds,
    open_incident,
    request_card,
    slack_request,
    snapshot,
)
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import handler
from tourniquet.errors import EscalationFailed


def test_request_approval_stores_the_token_and_posts_a_card_without_it(slack, sfn_calls):
    open_incident()
    before = datetime.now(UTC)

    result = handler.request_approval(approval_event(), CONTEXT)

    assert result["posted"] is True
    item = approval_item(result["approval_id"])
    assert item is not None
    assert item["status"] == "pending"
    assert item["task_token"] == TOKEN
    assert item["incident_id"] == INCIDENT_ID
    assert item["actions"] == ["stop_instance"]
    requested = datetime.fromisoformat(item["requested_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(item["deadline"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= requested <= datetime.now(UTC)
    assert expires - requested == timedelta(seconds=3600)
    (card,) = slack.fake.messages(slack.channel)
    assert (item["slack_channel"], item["slack_ts"]) == (card.channel, card.ts)
    assert {button["value"] for _, button in card.buttons()} == {result["approval_id"]}
    assert all(TOKEN[:24] not in json.dumps(call.args) for call in slack.fake.calls())
    incident = store.get_incident(INCIDENT_ID)
    assert incident is not None
    assert (incident["approval_id"], incident["slack_channel"], incident["slack_ts"]) == (
        result["approval_id"],
        card.channel,
        card.ts,
    )
    assert kinds() == ["approval_requested"]
    assert sfn_calls == []


def test_request_approval_pages_the_escalation_topic_with_a_summary_and_no_token(slack):
    item = request_card()

    (page,) = slack.pages()
    assert page["event"] == "approval_requested"
    assert page["approval_id"] == item["approval_id"]
    assert page["incident_id"] == INCIDENT_ID
    assert page["pending_actions"] == ["stop_instance"]
    assert page["resource"] == INSTANCE
    assert page["slack_posted"] is True
    assert TOKEN[:24] not in json.dumps(page)


@pytest.mark.parametrize(
    "failure",
    [
        {"error": "channel_not_found"},
        {"error": "internal_error", "status": 500},
        {"error": "ratelimited"},
    ],
    ids=["slack-error", "http-500", "rate-limited"],
)
def test_when_slack_fails_the_approval_stays_pending_and_the_failure_is_recorded(slack, failure):
    open_incident()
    slack.fake.fail_next("chat.postMessage", **failure)

    result = handler.request_approval(approval_event(), CONTEXT)

    assert result["posted"] is False
    item = approval_item(result["approval_id"])
    assert item is not None
    assert item["status"] == "pending"
    assert item["task_token"] == TOKEN
    assert "slack_ts" not in item
    incident = store.get_incident(INCIDENT_ID)
    assert incident is not None
    assert incident["approval_id"] == result["approval_id"]
    assert "slack_ts" not in incident
    assert kinds() == ["slack_error", "approval_requested"]
    assert store.timeline(INCIDENT_ID)[0]["error"].startswith("chat.postMessage failed: ")
    (page,) = slack.pages()
    assert page["slack_posted"] is False


def test_when_slack_is_unreachable_the_approval_stays_pending(slack, monkeypatch):
    open_incident()
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{closed_port()}/api/")

    result = handler.request_approval(approval_event(), CONTEXT)

    assert result["posted"] is False
    assert approval_item(result["approval_id"])["status"] == "pending"
    assert kinds() == ["slack_error", "approval_requested"]
    assert slack.pages()[0]["slack_posted"] is False


@pytest.mark.parametrize(
    ("base64_body", "lower"),
    [(False, True), (True, True), (False, False)],
    ids=["text", "base64", "any-case"],
)
def test_an_approver_approves_and_the_workflow_gets_the_stored_token(slack, sfn_calls, base64_body, lower):
    approval = request_card()

    response = interact(slack_request(click_payload(approval), base64_body=base64_body, lower=lower))

    assert response["statusCode"] == 200
    ((operation, params),) = sfn_calls
    assert operation == "SendTaskSuccess"
    assert params["taskToken"] == TOKEN
    output = json.loads(params["output"])
    assert output["decision"] == "approve"
    assert output["by"] == APPROVER
    assert output["approval_id"] == approval["approval_id"]
    decided = approval_item(approval["approval_id"])
    assert decided is not None
    assert decided["status"] == "approved"
    assert decided["decided_by"] == APPROVER
    assert output["at"] == decided["decided_at"]
    assert kinds() == ["approval_requested", "decision"]
    decision = store.timeline(INCIDENT_ID)[-1]
    assert (decision["actor"], decision["decision"], decision["approval_id"]) == (
        APPROVER,
        "approve",
        approval["approval_id"],
    )


def test_after_a_decision_the_card_loses_its_buttons_and_the_thread_hears_of_it(slack, sfn_calls):
    approval = request_card()

    interact(slack_request(click_payload(approval)))

    card = slack.fake.message(approval["slack_channel"], approval["slack_ts"])
    assert card is not None
    assert card.buttons() == []
    assert f"✅ *Approved* by <@{APPROVER}>" in json.dumps(card.blocks, ensure_ascii=False)
    (reply,) = [m for m in slack.fake.messages(slack.channel) if m.thread_ts == approval["slack_ts"]]
    assert reply.text == f"✅ Approved by <@{APPROVER}>: running stop_instance."


def test_an_approver_denies_and_the_workflow_gets_approval_denied(slack, sfn_calls):
    approval = request_card()

    response = interact(slack_request(click_payload(approval, action="deny")))

    assert response["statusCode"] == 200
    ((operation, params),) = sfn_calls
    assert operation == "SendTaskFailure"
    assert params["taskToken"] == TOKEN
    assert params["error"] == "ApprovalDenied"
    cause = json.loads(params["cause"])
    assert cause["by"] == APPROVER
    decided = approval_item(approval["approval_id"])
    assert decided is not None
    assert decided["status"] == "denied"
    assert cause["at"] == decided["decided_at"]
    card = slack.fake.message(approval["slack_channel"], approval["slack_ts"])
    assert card is not None
    assert card.buttons() == []
    assert f"⛔ *Denied* by <@{APPROVER}>" in json.dumps(card.blocks, ensure_ascii=False)


def test_a_slack_failure_after_the_decision_is_recorded_and_the_decision_stands(slack, sfn_calls):
    approval = request_card()
    slack.fake.fail_next("chat.update", error="message_not_found")

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    assert approval_item(approval["approval_id"])["status"] == "approved"
    assert kinds() == ["approval_requested", "decision", "slack_error"]
    assert store.timeline(INCIDENT_ID)[-1]["error"] == "chat.update failed: message_not_found"


def test_a_forged_signature_is_rejected_and_changes_nothing(slack, sfn_calls):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval), secret="a-different-signing-secret"))

    assert response["statusCode"] == 401
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert kinds() == ["approval_requested"]


def test_a_stale_timestamp_is_rejected_and_changes_nothing(slack, sfn_calls):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    stale = str(int(time.time()) - 301)

    response = interact(slack_request(click_payload(approval), timestamp=stale))

    assert response["statusCode"] == 401
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "1795331381"},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "1795331381", "X-Slack-Signature": "v0=\u00e9\u00e9"},
        {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=" + "0" * 64},
    ],
    ids=[
        "no-headers",
        "no-signature",
        "no-timestamp",
        "non-numeric-timestamp",
        "non-ascii-signature",
        "huge-timestamp",
    ],
)
def test_missing_or_malformed_headers_are_a_401_never_a_500(slack, sfn_calls, headers):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval), headers=headers))

    assert response["statusCode"] == 401
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


def test_an_event_with_null_headers_is_a_401(slack, sfn_calls):
    event = slack_request("{}")
    event["headers"] = None

    assert interact(event)["statusCode"] == 401


def test_a_payload_format_1_event_is_a_503_and_changes_nothing(slack, sfn_calls):
    # No route is deployed with payload format 1.0: such an event means the integration is misconfigured.
    approval = request_card()
    before = snapshot(approval["approval_id"])
    event = slack_request(click_payload(approval))
    v1 = {key: event[key] for key in ("headers", "body", "isBase64Encoded")}
    v1.update(version="1.0", httpMethod="POST", path="/slack/interactions", requestContext={})

    response = interact(v1)

    assert response["statusCode"] == 503
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


@pytest.mark.parametrize(
    "payload",
    [None, "", "not json", '{"type": "block_actions"}'],
    ids=["empty-body", "empty", "non-json", "no-user"],
)
def test_a_signed_but_malformed_body_is_a_400(slack, sfn_calls, payload):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(payload))

    assert response["statusCode"] == 400
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


def test_a_user_who_is_not_an_approver_is_told_so_and_the_attempt_is_recorded(slack, sfn_calls):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval, user=STRANGER)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert approval_item(approval["approval_id"])["status"] == "pending"
    assert sfn_calls == []
    assert ephemeral_texts(slack, STRANGER) == [
        "You are not authorized to approve or deny Tourniquet actions."
    ]
    assert kinds() == ["approval_requested", "rejected_click"]
    rejected = store.timeline(INCIDENT_ID)[-1]
    assert (rejected["actor"], rejected["reason"], rejected["approval_id"]) == (
        STRANGER,
        "not_authorized",
        approval["approval_id"],
    )
    card = slack.fake.message(approval["slack_channel"], approval["slack_ts"])
    assert card is not None
    assert len(card.buttons()) == 2


def test_a_double_click_decides_once_and_the_second_click_is_told_who_decided(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))
    after_first = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval, action="deny")))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == after_first
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    (message,) = ephemeral_texts(slack, APPROVER)
    assert message.startswith(f"This was already approved by <@{APPROVER}> ")
    assert kinds() == ["approval_requested", "decision"]


def test_a_click_after_expiry_is_told_the_approval_expired(slack, sfn_calls):
    approval = request_card()
    past = store.iso(datetime.now(UTC) - timedelta(seconds=1))
    store.table().update_item(
        Key={"pk": f"APPROVAL#{approval['approval_id']}", "sk": "APPROVAL"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": past},
    )
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert ephemeral_texts(slack, APPROVER) == ["This approval expired: nothing was changed."]


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "InvalidToken"])
def test_a_decision_the_workflow_no_longer_waits_for_marks_the_approval_expired(slack, code):
    approval = request_card()

    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code=code, expected_params=None)
        response = interact(slack_request(click_payload(approval)))
        stub.assert_no_pending_responses()

    assert response["statusCode"] == 200
    assert approval_item(approval["approval_id"])["status"] == "expired"
    assert ephemeral_texts(slack, APPROVER) == ["This approval expired: nothing was changed."]
    assert kinds() == ["approval_requested", "approval_expired"]
    card = slack.fake.message(approval["slack_channel"], approval["slack_ts"])
    assert card is not None
    assert card.buttons() == []
    assert "⌛ *Expired*" in json.dumps(card.blocks, ensure_ascii=False)


def test_a_decision_step_functions_could_not_take_leaves_the_approval_pending(slack):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_client_error(
            "send_task_success", service_error_code="ServiceUnavailable", http_status_code=503
        )
        response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert ephemeral_texts(slack, APPROVER) == [
        "The decision could not be delivered; the approval is still pending. Try again."
    ]


@pytest.mark.parametrize(
    "value", ["Zq3v9Xl0a1B2c3D4e5F6gA", "../../etc", ""], ids=["unknown", "malformed", "empty"]
)
def test_an_unknown_approval_id_is_answered_and_changes_nothing(slack, sfn_calls, value):
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval, value=value)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert ephemeral_texts(slack, APPROVER) == ["This approval is unknown: nothing was changed."]


@pytest.mark.parametrize(
    "change",
    [{"type": "view_submission"}, {"action": "snooze"}],
    ids=["other-interaction", "other-action"],
)
def test_other_interactions_get_a_neutral_200(slack, sfn_calls, change):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    payload = click_payload(approval, action=change.get("action", "approve"))
    payload.update({k: v for k, v in change.items() if k == "type"})

    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert response["body"] == ""
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert [m for m in slack.fake.ephemeral() if m["channel"] == slack.channel_id()] == []


def test_an_unreadable_signing_secret_is_a_503_and_changes_nothing(slack, sfn_calls, monkeypatch):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    monkeypatch.setenv(
        "SLACK_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"
    )

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 503
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


def test_when_neither_slack_nor_the_escalation_topic_can_be_reached_the_step_fails(slack, monkeypatch):
    open_incident()
    slack.fake.fail_next("chat.postMessage", error="channel_not_found")
    monkeypatch.setenv("ESCALATION_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:missing")

    with pytest.raises(EscalationFailed):
        handler.request_approval(approval_event(), CONTEXT)


def test_a_failed_page_is_recorded_when_the_card_is_in_slack(slack, monkeypatch):
    open_incident()
    monkeypatch.setenv("ESCALATION_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:missing")

    result = handler.request_approval(approval_event(), CONTEXT)

    assert result["posted"] is True
    assert approval_item(result["approval_id"])["status"] == "pending"
    assert kinds() == ["approval_requested", "escalation_error"]
