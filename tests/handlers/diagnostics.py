"""Helpers for the diagnostics tests: the alert a check reads, its result as recorded, CloudTrail events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tests.helpers import REGION
from tourniquet import store
from tourniquet.containment import runner
from tourniquet.containment.model import ContainRequest
from tourniquet.intake.model import Alert, Resource
from tourniquet.settings import get_settings
from tourniquet.state import Diagnostic, Plan

INCIDENT = "inc-5e6f7a8b9c0d"


ALERT_TIME = "2026-11-20T09:13:48Z"


def alert(instance_id: str | None, **changes: Any) -> dict[str, Any]:
    resources = (Resource(type="AwsEc2Instance", id=instance_id, region=REGION),) if instance_id else ()
    return Alert(
        source="guardduty",
        product="GuardDuty",
        finding_id="92cc3f3c6d1f4a6bb51a7c3f1e0a1b2c",
        type="CryptoCurrency:EC2/BitcoinTool.B!DNS",
        category="CryptoCurrency",
        severity="HIGH",
        severity_raw="8",
        title="EC2 instance is querying a domain name associated with Bitcoin-related activity.",
        account="123456789012",
        region=REGION,
        time=ALERT_TIME,
        resources=resources,
        dedup_key="guardduty:123456789012:CryptoCurrency:EC2/BitcoinTool.B!DNS",
        **changes,
    ).model_dump(mode="json")


def event(check: str, instance_id: str | None) -> dict[str, Any]:
    return {"check": check, "incident_id": INCIDENT, "alert": alert(instance_id)}


def recorded(result: dict[str, Any]) -> dict[str, Any]:
    """A check's result as the automatic containment step records it (with the plan, on the timeline): what
    DynamoDB takes back of it."""
    request = ContainRequest(
        mode="auto", incident_id=INCIDENT, plan=Plan(playbook="test"), diagnostics=(Diagnostic(**result),)
    )
    runner.run(request, get_settings())
    [planned] = [e for e in store.timeline(INCIDENT) if e["kind"] == "planned"]
    return dict(planned["diagnostics"][0])


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def trail_event(
    name: str, minutes_before: int, *, ip: str = "198.51.100.7", error: str | None = None
) -> dict:
    record: dict[str, Any] = {
        "sourceIPAddress": ip,
        "userIdentity": {"arn": "arn:aws:iam::123456789012:user/mallory"},
    }
    if error:
        record["errorCode"] = error
    return {
        "EventId": f"{name}-{minutes_before}",
        "EventName": name,
        "EventTime": datetime(2026, 11, 20, 9, 13, tzinfo=UTC) - timedelta(minutes=minutes_before),
        "EventSource": "ec2.amazonaws.com",
        "Username": "mallory",
        "CloudTrailEvent": json.dumps(record),
    }
