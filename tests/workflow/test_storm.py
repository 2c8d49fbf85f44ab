"""An alert storm: 500 alerts about 10 problems, from three sources, make exactly 10 incidents."""

from __future__ import annotations

import copy
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.conditions import Attr

from sandbox.core import Sandbox
from tests.helpers import load_event

ALERTS_PER_PROBLEM = 50
# Executions in flight at once. The sandbox runs every handler on one thread (AWS would run them side by
# side), so an unbounded burst only queues invocations past their task timeouts; waves keep the storm honest.
WAVE = 50


def storm() -> list[dict[str, Any]]:
    """10 problems (5 GuardDuty findings, 3 Alertmanager alerts, 2 CloudWatch alarms), each sent 50 times."""
    problems: list[dict[str, Any]] = []
    for n in range(5):
        event = load_event("guardduty_ec2_finding")
        event["detail"]["id"] = f"storm-finding-{n}"
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0st0rm{n:010d}"
        problems.append(event)
    body = load_event("alertmanager_v4_firing")
    for n in range(3):
        single = copy.deepcopy(body)
        alert = copy.deepcopy(body["alerts"][0])
        alert["labels"]["alertname"] = f"StormAlert{n}"
        alert["fingerprint"] = f"{n:016x}"
        single["alerts"] = [alert]
        problems.append(
            {
                "source": "tourniquet.webhook",
                "detail-type": "Webhook Alert",
                "detail": {"webhook": "alertmanager", "payload": single},
            }
        )
    for n in range(2):
        event = load_event("cloudwatch_alarm_state_change")
        event["detail"]["alarmName"] = f"security-storm-{n}"
        event["resources"] = [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:security-storm-{n}"]
        problems.append(event)
    # Interleaved, as a storm arrives: every problem keeps re-firing while the others do.
    return [copy.deepcopy(p) for _ in range(ALERTS_PER_PROBLEM) for p in problems]


def run_storm(sandbox: Sandbox, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert's finished execution, started in waves of concurrent executions."""
    executions: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for start in range(0, len(alerts), WAVE):
            arns = list(pool.map(sandbox.start_execution, alerts[start : start + WAVE]))
            executions += [sandbox.wait_for_execution(arn, timeout=120) for arn in arns]
    return executions


def test_a_storm_of_500_alerts_about_10_problems_makes_10_incidents(sandbox: Sandbox):
    executions = run_storm(sandbox, storm())

    assert Counter(e["status"] for e in executions) == {"SUCCEEDED": 500}
    outputs = [json.loads(e["output"]) for e in executions]
    duplicates = Counter(o["incident"]["id"] for o in outputs if o["incident"]["duplicate"])
    opened = [o["incident"]["id"] for o in outputs if not o["incident"]["duplicate"]]
    incidents = {
        item["incident_id"]: item
        for item in sandbox.table.scan(FilterExpression=Attr("sk").eq("INCIDENT"))["Items"]
        if item["incident_id"] in set(opened)
    }
    assert len(opened) == len(set(opened)) == 10
    assert set(duplicates) == set(opened)
    assert all(count == ALERTS_PER_PROBLEM - 1 for count in duplicates.values())
    assert {i["incident_id"]: int(i["duplicate_count"]) for i in incidents.values()} == dict(duplicates)
