"""Every channel in one sandbox: an alert-only CRITICAL finding gets the whole card in Slack ("needs a human",
Acknowledge), a PagerDuty trigger and a Teams card; Acknowledge records the person and acknowledges in
PagerDuty; the end of an incident resolves it there; a channel outage leaves the incident to complete with
the failure on its timeline; and no message on any channel carries a stack trace."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from moto.ec2.models.elastic_block_store import EBSBackend

from sandbox.channels import PAGERDUTY, TEAMS
from sandbox.core import Sandbox
from tests.helpers import load_event
from tests.workflow.runner import Runner
from tourniquet import store
from tourniquet.approval.model import ACKNOWLEDGE_ACTION_ID
from tourniquet.channels import http
from tourniquet.channels.base import has_stack_trace

_unique = itertools.count(1)


def _email_queue(sandbox: Sandbox) -> str:
    """An SQS queue subscribed to the e-mail topic, to read the e-mails sent."""
    sqs, sns = sandbox.client("sqs"), sandbox.client("sns")
    url = sqs.create_queue(QueueName=f"emails-{next(_unique)}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    [topic] = [
        r.physical_id for r in sandbox.deployment.of_type("AWS::SNS::Topic") if "Email" in r.logical_id
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def _emails(sandbox: Sandbox, queue_url: str) -> list[dict[str, Any]]:
    sqs, found = sandbox.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def _alarm(name: str, state: str) -> dict[str, Any]:
    event = load_event("cloudwatch_alarm_state_change" if state == "ALARM" else "cloudwatch_alarm_ok")
    event["detail"]["alarmName"] = name
    event["resources"] = [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"]
    event["detail"]["configuration"]["description"] = f"{name} failed its status checks. severity: critical"
    return event


@pytest.fixture(scope="module")
def emails(sandbox: Sandbox) -> str:
    return _email_queue(sandbox)


def test_an_alert_only_critical_finding_reaches_every_channel_and_acknowledge_records_the_person(
    runner: Runner, sandbox: Sandbox, emails: str
):
    event = load_event("guardduty_attack_sequence")
    event["detail"]["id"] = f"attack-sequence-{next(_unique)}"

    result = runner.run(event).result
    incident_id = result["incident_id"]

    assert result["status"] == "alerted"
    card = sandbox.slack.find_card(incident_id)
    assert card is not None
    shown = json.dumps(card.blocks, ensure_ascii=False)
    for part in (
        "Status: needs a human",
        "*Account*",
        "*Diagnostics*",
        "*Next steps (runbook)*",
        "First seen",
    ):
        assert part in shown, part
    assert "closed" not in shown.lower()
    [(_, button)] = card.buttons()
    assert button["action_id"] == ACKNOWLEDGE_ACTION_ID
    ack_id = button["value"]
    assert len(ack_id) < 64
    # PagerDuty: one trigger, deduplicated on the incident, critical; Teams: the card.
    assert sandbox.channels.events(incident_id) == [("trigger", incident_id)]
    [trigger] = [r.body for r in sandbox.channels.received(PAGERDUTY, incident=incident_id)]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["custom_details"]["status"] == "needs a human"
    [teams] = sandbox.channels.received(TEAMS, incident=incident_id)
    assert teams.ok and "Status: needs a human" in teams.text()
    assert any(incident_id in e["Subject"] or incident_id in e["Message"] for e in _emails(sandbox, emails))

    status, _ = sandbox.click(card, ACKNOWLEDGE_ACTION_ID)
    again, _ = sandbox.click(card, ACKNOWLEDGE_ACTION_ID)

    assert (status, again) == (200, 200)
    [acknowledged] = [e for e in store.timeline(incident_id) if e["kind"] == "acknowledged"]
    assert acknowledged["actor"] == sandbox.approver.id
    assert store.get_incident(incident_id)["acknowledged_by"] == sandbox.approver.id
    assert sandbox.channels.events(incident_id) == [("trigger", incident_id), ("acknowledge", incident_id)]
    taken = sandbox.slack.find_message(incident_id)
    assert taken is not None and taken.buttons() == []
    assert f"*Taken* by <@{sandbox.approver.id}>" in json.dumps(taken.blocks, ensure_ascii=False)


def test_the_end_of_an_incident_resolves_it_in_pagerduty_and_an_outage_of_a_channel_blocks_nothing(
    runner: Runner, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    # The functions run in this process: the pause between a channel's attempts, shortened.
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.01)
    name = f"status-check-failed-{next(_unique)}"

    with sandbox.channels.outage(TEAMS):
        firing = runner.run(_alarm(name, "ALARM"), via_rules=False).result
    recovered = runner.run(_alarm(name, "OK"), via_rules=False).result
    incident_id = firing["incident_id"]

    assert firing["execution"]["status"] == "SUCCEEDED"
    assert recovered["status"] == "resolved"
    assert sandbox.channels.events(incident_id) == [("trigger", incident_id), ("resolve", incident_id)]
    [error] = [e for e in store.timeline(incident_id) if e["kind"] == "channel_error"]
    assert error["channel"] == TEAMS
    assert error["error"] == "Teams unavailable (HTTP 503), after 3 attempts"
    assert sandbox.slack.find_card(incident_id) is not None


def test_no_message_on_any_channel_carries_a_stack_trace(
    runner: Runner, sandbox: Sandbox, emails: str, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError(
            'snapshot failed\nTraceback (most recent call last):\n  File "/var/task/ebs.py", line 7, in x\n'
        )

    event, _ = sandbox.map_alert(runner.event())
    monkeypatch.setattr(EBSBackend, "create_snapshots", refuse)
    monkeypatch.setattr(EBSBackend, "create_snapshot", refuse)

    failed = runner.run(event, "approve").result

    assert failed["status"] == "failed"
    # Every message recorded in this sandbox, by every scenario that ran in it.
    messages = [
        *(json.dumps([c.text, c.blocks], ensure_ascii=False) for c in sandbox.slack.calls()),
        *(r.text() for r in sandbox.channels.received()),
        *(e["Subject"] + e["Message"] for e in _emails(sandbox, emails)),
    ]
    told = [m for m in messages if failed["incident_id"] in m and "failed" in m.lower()]
    assert len(told) >= 3, "the failure reached Slack, PagerDuty, Teams and e-mail"
    assert [m for m in messages if has_stack_trace(m) or "stackTrace" in m] == []
