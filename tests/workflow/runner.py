"""Runs alert fixtures through the sandbox, as the workflow scenarios use it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from sandbox.core import Sandbox
from tests.helpers import load_event
from tourniquet_cli.scenario import AlertRun, Decision, run_alert

_unique = itertools.count(1)


class Runner:
    """Runs fixtures through the sandbox; each run gets its own look-alike instance unless told otherwise."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def event(self, name: str = "guardduty_ec2_finding", *, fresh: bool = True) -> dict[str, Any]:
        event = load_event(name)
        if fresh:
            # A distinct instance id per test: tests share one sandbox and must not dedup into each other.
            n = next(_unique)
            event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0wf{n:014d}"
            event["detail"]["id"] = f"finding-{n}"
            if "arn" in event["detail"]:
                # Security Hub knows a GuardDuty finding by its ARN, which ends with its id.
                event["detail"]["arn"] = f"{event['detail']['arn'].rsplit('/', 1)[0]}/finding-{n}"
        return event

    def run(
        self, event: dict[str, Any], decision: Decision = "approve", *, via_rules: bool = True
    ) -> AlertRun:
        return run_alert(self.sandbox, Path("fixture.json"), event, decision, via_rules=via_rules)

    def topic_messages(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.sandbox.client("sqs")
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages.get("Messages", [])]

    def subscribe_queue(self) -> str:
        """An SQS queue subscribed to the escalation topic, to read what was published."""
        sqs, sns = self.sandbox.client("sqs"), self.sandbox.client("sns")
        url = sqs.create_queue(QueueName=f"escalations-{next(_unique)}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        [topic] = [
            r.physical_id
            for r in self.sandbox.deployment.of_type("AWS::SNS::Topic")
            if "Escalation" in r.logical_id
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return url
