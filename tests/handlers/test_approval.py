"""RequestApproval and the Slack interaction endpoint, against moto and the fake Slack Web API.

Requests are signed with slack-sdk's own signer and sent as the HTTP API sends them (payload format 2.0).
Every rejection checks that neither the approval nor the incident changed.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from botocore.stub import Stubber
from slack_sdk.signature import SignatureVerifier

from sandbox.slack import FakeSlack, SlackUser
from tests.helpers import load_event, moto_client, plan_state
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import handler
from tourniquet.errors import EscalationFailed
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.settings import Settings

BOT_TOKEN = "xoxb-0000000000-test-bot-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APPROVER = "U0APPROVER"
STRANGER = "U0STRANGER"
INCIDENT_ID = "inc-0123456789ab"
INSTANCE = "i-0a1b2c3d4e5f67890"
# Real task tokens run to hundreds of characters; this one must never reach Slack or SNS.
TOKEN = "AQCIAAAAKgAAAAMAAAAAAAAAA" + "t0k3n" * 300
CONTEXT = SimpleNamespace(
    function_name="tourniquet-test",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-test",
    aws_request_id="00000000-0000-0000-0000-000000000001",
)
DIAGNOSTICS: list[dict[str, Any]] = [
    {"check": "ec2_instance", "status": "ok", "summary": {"state": "running", "instance_type": "m5.large"}},
    {"check": "cloudtrail", "status": "unavailable", "error": "States.Timeout"},
]
CONTAINED: list[dict[str, Any]] = [
    {"action": "tag_instance", "target": {"id": INSTANCE}, "status": "done", "verified": True, "detail": {}},
    {
        "action": "isolate_network",
        "target": {"id": INSTANCE},
        "status": "done",
        "verified": True,
        "detail": {},
    },
]


# Environment: a fake Slack, the Slack secret, the escalation topic (read back through an SQS queue).


@dataclass
class SlackEnv:
    fake: FakeSlack
    channel: str
    queue_url: str

    def channel_id(self) -> str:
        return self.fake.channel_id(self.channel)

    def pages(self) -> list[dict[str, Any]]:
        """The escalation messages published so far (consumed)."""
        sqs = moto_client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(BOT_TOKEN).start()
    try:
        for user in (APPROVER, STRANGER):
            fake.add_user(SlackUser(user, user.lower()))
        yield fake
    finally:
        fake.stop()


def slack_environment(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    """Inside the ``aws`` fixture: everything the Slack-facing handlers need, pointed at local fakes.

    The fake Slack outlives a test (stopping it takes half a second), so each test posts to its own channel.
    """
    channel = f"#incidents-{secrets.token_hex(4)}"
    secret_arn = moto_client("secretsmanager").create_secret(
        Name="tourniquet/slack",
        SecretString=json.dumps({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}),
    )["ARN"]
    sns, sqs = moto_client("sns"), moto_client("sqs")
    topic_arn = sns.create_topic(Name="tourniquet-escalation")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="pages")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    for name, value in {
        "SLACK_SECRET_ARN": secret_arn,
        "SLACK_API_URL": fake.api_url,
        "SLACK_CHANNEL": channel,
        "APPROVERS": f"{APPROVER},U0OTHERAPP",
        "ESCALATION_TOPIC_ARN": topic_arn,
        "SLACK_TEAM_ID": "T0SANDBOX",
        "SLACK_APP_ID": "A0TOURNIQ",
    }.items():
        monkeypatch.setenv(name, value)
    return SlackEnv(fake, channel, queue_url)


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    return slack_environment(fake_slack, monkeypatch)


# The workflow state RequestApproval receives.


def open_incident(incident_id: str = INCIDENT_ID) -> None:
    store.table().put_item(
        Item={
            "pk": store.incident_pk(incident_id),
            "sk": store.INCIDENT_SK,
            "incident_id": incident_id,
            "status": "open",
            "severity": "HIGH",
            "title": "EC2 instance i-0a1b2c3d4e5f67890 is querying a domain name associated with Bitcoin",
            "duplicate_count": 2,
        }
    )


def approval_event(incident_id: str = INCIDENT_ID, timeout: int = 3600) -> dict[str, Any]:
    alert = normalize(load_event("guardduty_ec2_finding"))
    assert isinstance(alert, Alert)
    return {
        "task_token": TOKEN,
        "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1",
        "incident": {
            "id": incident_id,
            "duplicate": False,
            "duplicate_count": 2,
            "dedup_key": alert.dedup_key,
        },
        "alert": alert.model_dump(mode="json"),
        # A fixed plan, whatever the playbooks say today.
        "plan": {
            **plan_state(alert, DIAGNOSTICS, Settings(APPROVAL_TIMEOUT_SECONDS=timeout)),
            "automatic": ["tag_instance", "preserve_evidence", "snapshot_volumes", "isolate_network"],
            "approval": ["stop_instance"],
        },
        "diagnostics": DIAGNOSTICS,
        "contained": CONTAINED,
    }


def request_card(incident_id: str = INCIDENT_ID) -> dict[str, Any]:
    """Open an incident, run RequestApproval, and return the stored approval item."""
    open_incident(incident_id)
    result = handler.request_approval(approval_event(incident_id), CONTEXT)
    item = approval_item(result["approval_id"])
    assert item is not None
    return item


def approval_item(approval_id: str) -> dict[str, Any] | None:
    item = store.table().get_item(
        Key={"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL"}, ConsistentRead=True
    )
    return store.plain(item["Item"]) if "Item" in item else None


def snapshot(approval_id: str, incident_id: str = INCIDENT_ID) -> tuple[Any, Any]:
    return approval_item(approval_id), store.get_incident(incident_id)


def kinds(incident_id: str = INCIDENT_ID) -> list[str]:
    return [event["kind"] for event in store.timeline(incident_id)]


# Slack interactions, signed like Slack signs them.


def click_payload(
    approval: dict[str, Any], *, user: str = APPROVER, action: str = "approve", value: str | None = None
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
        "api_app_id": "A0TOURNIQ",
        "team": {"id": "T0SANDBOX", "domain": "tourniquet-sandbox"},
        "container": {
            "type": "message",
            "message_ts": approval.get("slack_ts"),
            "channel_id": approval.get("slack_channel"),
            "is_ephemeral": False,
        },
        "channel": {"id": approval.get("slack_channel")},
        "trigger_id": "1111.2222.abcd",
        "actions": [
            {
                "type": "button",
                "block_id": "approval",
                "action_id": action,
                "value": approval["approval_id"] if value is None else value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def slack_request(
    payload: dict[str, Any] | str | None,
    *,
    base64_body: bool = False,
    timestamp: str | None = None,
    secret: str = SIGNING_SECRET,
    headers: dict[str, str] | None = None,
    lower: bool = True,
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload format 2.0, header names in lower case) for a Slack POST."""
    if payload is None:
        body = ""
    else:
        body = "payload=" + quote(payload if isinstance(payload, str) else json.dumps(payload))
    if headers is None:
        stamp = timestamp or str(int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": str(signature),
        }
    sent = base64.b64encode(body.encode()).decode() if base64_body else body
    return {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "headers": {name.lower() if lower else name: value for name, value in headers.items()},
        "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}, "requestId": "r-1"},
        "body": sent,
        "isBase64Encoded": base64_body,
    }


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def interact(event: dict[str, Any]) -> dict[str, Any]:
    response = handler.slack_interaction(event, CONTEXT)
    assert set(response) == {"statusCode", "headers", "body"}
    return response


def ephemeral_texts(env: SlackEnv, user: str) -> list[str]:
    return [
        message["text"]
        for message in env.fake.ephemeral()
        if message["user"] == user and message["channel"] == env.channel_id()
    ]


# RequestApproval


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


# Slack interactions: the happy paths


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


# Slack interactions: rejections. None of them may change the approval or the incident.


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


# RequestApproval: the escalation page


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
