"""Tiny Lambda handlers for the sandbox's own tests (the real ones live in lambdas/tourniquet)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tourniquet import aws
from tourniquet.errors import ContainmentFailed, Throttled

_attempts: Counter[str] = Counter()


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "input": event,
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "marker": os.environ.get("MARKER"),
        "table": os.environ.get("TABLE_NAME"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "thread": threading.current_thread().name,
    }


def whoami(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Who the function's own credentials say it is."""
    return {"arn": aws.client("sts").get_caller_identity()["Arn"]}


def contain_fails(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ContainmentFailed(f"cannot isolate {event.get('target', 'the target')}")


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Throttled for the first ``fail_times`` calls with the same ``key``, then succeeds."""
    key = str(event["key"])
    _attempts[key] += 1
    if _attempts[key] <= int(event["fail_times"]):
        raise Throttled(f"attempt {_attempts[key]} throttled")
    return {"attempts": _attempts[key]}


def _slack_secret() -> dict[str, str]:
    secret = aws.client("secretsmanager").get_secret_value(SecretId=os.environ["SLACK_SECRET_ARN"])
    return json.loads(secret["SecretString"])  # type: ignore[no-any-return]


def request_approval(event: dict[str, Any], context: Any) -> None:
    """Keeps the task token under an opaque approval id and posts a card with approve/deny buttons.

    A ``quiet`` card does not print the incident id; only its buttons' approval id leads to it.
    """
    approval_id = f"ap-{secrets.token_hex(6)}"
    incident = event["incident_id"]
    table = aws.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    table.put_item(
        Item={
            "pk": f"INCIDENT#{incident}",
            "sk": "INCIDENT",
            "incident_id": incident,
            "execution_id": event["execution_id"],
            "approval_id": approval_id,
        }
    )
    table.put_item(
        Item={
            "pk": f"APPROVAL#{approval_id}",
            "sk": "APPROVAL",
            "approval_id": approval_id,
            "incident_id": incident,
            "task_token": event["task_token"],
        }
    )
    slack = WebClient(token=_slack_secret()["bot_token"], base_url=os.environ["SLACK_API_URL"])
    title = "An incident" if event.get("quiet") else f"Incident {incident}"
    slack.chat_postMessage(
        channel="#security-incidents",
        text=f"{title} needs approval",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}* needs approval"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approve",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": approval_id,
                    },
                    {
                        "type": "button",
                        "action_id": "deny",
                        "text": {"type": "plain_text", "text": "Deny"},
                        "style": "danger",
                        "value": approval_id,
                    },
                ],
            },
        ],
    )


def slack_interaction(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Verifies the Slack signature, then sends the decision for the approval named by the button."""
    raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event.get("body", "").encode()
    verifier = SignatureVerifier(_slack_secret()["signing_secret"])
    try:
        valid = verifier.is_valid_request(raw, event["headers"])
    except ValueError:
        valid = False
    if not valid:
        return {
            "statusCode": 401,
            "headers": {"content-type": "application/json"},
            "body": '{"error":"invalid"}',
        }
    payload = json.loads(parse_qs(raw.decode())["payload"][0])
    action = payload["actions"][0]
    item = (
        aws.resource("dynamodb")
        .Table(os.environ["TABLE_NAME"])
        .get_item(Key={"pk": f"APPROVAL#{action['value']}", "sk": "APPROVAL"})["Item"]
    )
    aws.client("stepfunctions").send_task_success(
        taskToken=item["task_token"],
        output=json.dumps({"decision": action["action_id"], "by": payload["user"]["id"]}),
    )
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "action": action["action_id"],
                "user": payload["user"]["id"],
                "route": event["routeKey"],
                "method": event["requestContext"]["http"]["method"],
                "content_type": event["headers"].get("content-type"),
                "base64": event["isBase64Encoded"],
                "message_ts": payload["container"]["message_ts"],
            }
        ),
    }
