"""Helpers for the approval tests: the fake Slack and its environment, the state RequestApproval receives,
the stored approval, and Slack requests signed as Slack signs them."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import typer
from slack_sdk.signature import SignatureVerifier
from typer.testing import CliRunner

from sandbox.slack import FakeSlack, SlackUser
from tests.helpers import load_event, moto_client, plan_state
from tourniquet import store
from tourniquet.approval import callback, handler
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.settings import Settings
from tourniquet_cli.approve_cmd import register

BOT_TOKEN = "xoxb-0000000000-test-bot-token"


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


APPROVER = "U0APPROVER"


STRANGER = "U0STRANGER"


INCIDENT_ID = "inc-0123456789ab"


INSTANCE = "i-0a1b2c3d4e5f67890"


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
    response = callback.slack_interaction(event, CONTEXT)
    assert set(response) == {"statusCode", "headers", "body"}
    return response


def ephemeral_texts(env: SlackEnv, user: str) -> list[str]:
    return [
        message["text"]
        for message in env.fake.ephemeral()
        if message["user"] == user and message["channel"] == env.channel_id()
    ]


def approve_cli(*args: str) -> Any:
    """``tourniquet approve ARGS``, as a user runs it."""
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Keeps ``approve`` a named sub-command."""

    return CliRunner().invoke(app, ["approve", *args])
