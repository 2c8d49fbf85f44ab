"""Helpers for the webhook tests: requests as the HTTP API sends them; the secret and workflow they need."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import moto_client
from tourniquet.intake.webhook import handle

TOKEN = "whk_" + "b" * 40


HMAC_KEY = "hmac-" + "k" * 40


CONTEXT = SimpleNamespace(
    function_name="tourniquet-webhook",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-webhook",
    aws_request_id="00000000-0000-0000-0000-000000000003",
)


_PASS = json.dumps({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}})


def webhook_environment(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Inside the ``aws`` fixture: the webhook secret and a state machine, named in the environment."""
    secrets = moto_client("secretsmanager")
    secret_arn = secrets.create_secret(
        Name="tourniquet/webhook", SecretString=json.dumps({"bearer_token": TOKEN, "hmac_secret": HMAC_KEY})
    )["ARN"]
    sfn = moto_client("stepfunctions")
    machine = sfn.create_state_machine(
        name="tourniquet-incident-response",
        definition=_PASS,
        roleArn="arn:aws:iam::123456789012:role/tourniquet-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    return SimpleNamespace(secret_arn=secret_arn, machine=machine, sfn=sfn, secrets=secrets)


def request(
    source: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    request_id: str = "req-1",
    encode: bool = False,
) -> dict[str, Any]:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    data = raw.encode() if isinstance(raw, str) else raw
    return {
        "version": "2.0",
        "routeKey": "POST /webhook/{source}",
        "rawPath": f"/webhook/{source}",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": f"/webhook/{source}"}, "requestId": request_id},
        "pathParameters": {"source": source},
        "body": base64.b64encode(data).decode() if encode else data.decode("utf-8", errors="replace"),
        "isBase64Encoded": encode,
    }


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = handle(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def executions(ns: SimpleNamespace) -> list[dict[str, Any]]:
    listed = ns.sfn.list_executions(stateMachineArn=ns.machine)["executions"]
    return [json.loads(ns.sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]
