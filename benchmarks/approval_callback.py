"""How fast the Slack callback answers: its cold import time and its median handling time.

Run with ``python -m benchmarks.approval_callback``. Imports are timed in fresh interpreters (what a Lambda
cold start pays before the handler runs): ``import boto3`` as the yardstick, the Slack callback's module and
every other handler's module (as stacks/functions.py names them), taking turns run by run, medians of
``IMPORT_RUNS``. The callback loads what answers a click with the first request that could be Slack's, so
the first such click also pays for ``interaction``: that is timed too, as the callback's whole cold start.
Handling is timed in process against moto and the fake Slack Web API, so the figures include moto's own
overhead and no network latency to AWS.
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws
from slack_sdk.signature import SignatureVerifier

from sandbox.slack import FakeSlack, SlackUser
from tests.handlers.approvals import approval_event
from tests.handlers.conftest import create_table
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import callback, handler, records
from tourniquet.logs import logger

IMPORT_RUNS = 9
# The Slack callback's cold import, as a multiple of a bare ``import boto3``.
IMPORT_GOAL = 1.3
CALLBACK_HANDLER = "tourniquet.approval.callback.slack_interaction"
FUNCTIONS = Path(__file__).resolve().parent.parent / "stacks" / "functions.py"
CLICKS = 30
APPROVER = "U0APPROVER"
# Throwaway credentials for the local fake Slack.
SIGNING_SECRET = "benchmark-signing-secret"  # noqa: S105
BOT_TOKEN = "xoxb-benchmark"  # noqa: S105
CONTEXT: Any = SimpleNamespace(
    function_name="tourniquet-benchmark",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-benchmark",
    aws_request_id="00000000-0000-0000-0000-000000000000",
)
BOTO3 = "boto3"


CALLBACK = CALLBACK_HANDLER.rsplit(".", 1)[0]
# What the callback's first click loads on top of the module.
FIRST_CLICK = f"{CALLBACK}, tourniquet.approval.interaction"


def handler_modules() -> list[str]:
    """The module of every function's handler, as the stack deploys them (the callback's first, with what
    its first click loads)."""
    handlers = re.findall(r'"(tourniquet(?:\.\w+)+)"', FUNCTIONS.read_text())
    others = sorted({handler.rsplit(".", 1)[0] for handler in handlers} - {CALLBACK})
    return [CALLBACK, FIRST_CLICK, *others]


def _import_seconds(modules: str) -> float:
    probe = f"import time; start = time.perf_counter(); import {modules}; print(time.perf_counter() - start)"
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip())


def cold_import_seconds() -> dict[str, list[float]]:
    """Each module's import time in new interpreters, ``boto3`` first, taking turns; the first round only
    writes the bytecode caches and is not counted."""
    modules = [BOTO3, *handler_modules()]
    for module in modules:
        _import_seconds(module)
    runs: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(IMPORT_RUNS):
        for module in modules:
            runs[module].append(_import_seconds(module))
    return runs


def import_report(imports: dict[str, list[float]]) -> str:
    base = statistics.median(imports[BOTO3])
    notes = {CALLBACK: "the Slack callback", FIRST_CLICK: "... and what its first click loads"}
    lines = [
        f"cold imports in fresh interpreters, medians of {IMPORT_RUNS} runs taking turns "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):"
    ]
    for modules, samples in imports.items():
        median = statistics.median(samples)
        name = notes.get(modules, modules)
        lines.append(
            f"  {name:<40} {median * 1000:6.0f} ms  x{median / base:.2f} import boto3  "
            f"(min {min(samples) * 1000:.0f} ms)"
        )
    ratio = statistics.median(imports[CALLBACK]) / base
    verdict = "met" if ratio <= IMPORT_GOAL else "NOT met"
    whole = statistics.median(imports[FIRST_CLICK]) / base
    lines.append(
        f"  the Slack callback: x{ratio:.2f} import boto3 (goal <= x{IMPORT_GOAL}: {verdict}); "
        f"with what its first click loads, x{whole:.2f}"
    )
    return "\n".join(lines)


def handling_seconds() -> dict[str, list[float]]:
    """Median-worthy samples of the handler answering: a full approval, a refused stranger, a forged click."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
            "TABLE_NAME": "tourniquet-benchmark",
            "APPROVERS": APPROVER,
            "SLACK_TEAM_ID": "T0SANDBOX",
            "SLACK_APP_ID": "A0TOURNIQ",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # The refused clicks log a warning each; the figures are the output here.
    logger.setLevel(logging.ERROR)
    fake = FakeSlack(BOT_TOKEN).start()
    fake.add_user(SlackUser(APPROVER, "approver"))
    fake.add_user(SlackUser("U0STRANGER", "stranger"))
    try:
        with mock_aws():
            create_table("tourniquet-benchmark")
            secret_arn = boto3.client("secretsmanager").create_secret(
                Name="slack",
                SecretString=json.dumps({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}),
            )["ARN"]
            topic_arn = boto3.client("sns").create_topic(Name="pages")["TopicArn"]
            os.environ.update(
                {
                    "SLACK_SECRET_ARN": secret_arn,
                    "SLACK_API_URL": fake.api_url,
                    "SLACK_CHANNEL": "#benchmark",
                    "ESCALATION_TOPIC_ARN": topic_arn,
                }
            )
            verifier = SignatureVerifier(SIGNING_SECRET)

            def click(user: str, *, forged: bool = False) -> dict[str, Any]:
                incident_id = store.new_id("inc")
                store.table().put_item(
                    Item={"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK, "status": "open"}
                )
                approval_id = handler.request_approval(approval_event(incident_id), CONTEXT)["approval_id"]
                # The button is clicked on the card the approval posted.
                card = records.get(approval_id)
                assert card is not None
                payload = {
                    "type": "block_actions",
                    "user": {"id": user},
                    "team": {"id": "T0SANDBOX"},
                    "api_app_id": "A0TOURNIQ",
                    "container": {"channel_id": card.slack_channel, "message_ts": card.slack_ts},
                    "actions": [{"action_id": "approve", "value": approval_id}],
                }
                body = "payload=" + quote(json.dumps(payload))
                stamp = str(int(time.time()))
                signature = (
                    "v0=" + "0" * 64
                    if forged
                    else str(verifier.generate_signature(timestamp=stamp, body=body))
                )
                return {
                    "version": "2.0",
                    "routeKey": "POST /slack/interactions",
                    "rawPath": "/slack/interactions",
                    "headers": {"x-slack-request-timestamp": stamp, "x-slack-signature": signature},
                    "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}},
                    "body": body,
                    "isBase64Encoded": False,
                }

            def timed(make: Callable[[], dict[str, Any]], status: int, delivered_so_far: int) -> list[float]:
                """Samples of the handler's answer; a run that answers otherwise than it should is refused."""
                samples = []
                for _ in range(CLICKS):
                    event = make()
                    start = time.perf_counter()
                    response = callback.slack_interaction(event, CONTEXT)
                    samples.append(time.perf_counter() - start)
                    if response["statusCode"] != status:
                        raise SystemExit(f"expected HTTP {status}, got {response['statusCode']}")
                if len(sfn_calls) != delivered_so_far:
                    raise SystemExit(f"expected {delivered_so_far} decisions delivered, saw {len(sfn_calls)}")
                return samples

            # moto's Step Functions knows no such token: the decision is taken as delivered, and counted.
            sfn_calls: list[str] = []

            def delivered(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
                sfn_calls.append("SendTaskSuccess")
                return AWSResponse("https://states", 200, HTTPHeaders(), None), {}

            tourniquet_aws.client("stepfunctions").meta.events.register(
                "before-call.sfn.SendTaskSuccess", delivered
            )
            return {
                "approve (decided, card updated, thread reply)": timed(lambda: click(APPROVER), 200, CLICKS),
                "not an approver (recorded, ephemeral reply)": timed(
                    lambda: click("U0STRANGER"), 200, CLICKS
                ),
                "forged signature (401)": timed(lambda: click(APPROVER, forged=True), 401, CLICKS),
            }
    finally:
        fake.stop()


def main() -> None:
    print(import_report(cold_import_seconds()))
    for name, samples in handling_seconds().items():
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(
            f"{name}: median {statistics.median(samples) * 1000:.1f} ms "
            f"(p90 {p90 * 1000:.1f} ms, {len(samples)} clicks, moto + fake Slack)"
        )


if __name__ == "__main__":
    main()
