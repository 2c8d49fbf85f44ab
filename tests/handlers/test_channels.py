"""The channels as the handlers use them (moto, the fake Slack, the PagerDuty and Teams
stand-ins): the Acknowledge button of an alert-only incident, what each status change sends, and failures
told in plain words on every channel, never with a stack trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from sandbox.channels import PAGERDUTY, TEAMS, ChannelStandIns
from sandbox.slack import FakeSlack
from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    STRANGER,
    SlackEnv,
    approval_event,
    click_payload,
    ephemeral_texts,
    interact,
    kinds,
    open_incident,
    request_card,
    slack_environment,
    slack_request,
)
from tests.helpers import moto_client
from tourniquet import store
from tourniquet.approval.model import ACKNOWLEDGE_ACTION_ID
from tourniquet.channels import http
from tourniquet.channels.base import has_stack_trace
from tourniquet.notify import handler
from tourniquet.slack import client

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pause between a channel's attempts, shortened: the tests count attempts, not seconds."""
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(client, "RETRY_INTERVAL", BackoffRetryIntervalCalculator(backoff_factor=0.01))


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[ChannelStandIns]:
    running = ChannelStandIns().start()
    yield running
    running.stop()


class Channels:
    def __init__(self, slack: SlackEnv, stand_ins: ChannelStandIns, email_queue: str) -> None:
        self.slack, self.stand_ins, self._queue = slack, stand_ins, email_queue
        self._seen = len(stand_ins.received())

    def received(self, channel: str) -> list[dict[str, Any]]:
        """What ``channel`` received in this test."""
        return [r.body for r in self.stand_ins.received()[self._seen :] if r.channel == channel]

    def emails(self) -> list[dict[str, Any]]:
        sqs = moto_client("sqs")
        messages = sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def every_message(self) -> list[str]:
        """Everything any channel was sent in this test, as text."""
        return [
            *(json.dumps([c.text, c.blocks], ensure_ascii=False) for c in self.slack.fake.calls()),
            *(json.dumps(r.body, ensure_ascii=False) for r in self.stand_ins.received()[self._seen :]),
            *(e["Subject"] + e["Message"] for e in self.emails()),
            *(json.dumps(page) for page in self.slack.pages()),
        ]


@pytest.fixture
def channels(
    aws: None, fake_slack: FakeSlack, stand_ins: ChannelStandIns, monkeypatch: pytest.MonkeyPatch
) -> Channels:
    slack = slack_environment(fake_slack, monkeypatch)
    secrets, sns, sqs = moto_client("secretsmanager"), moto_client("sns"), moto_client("sqs")
    pagerduty = secrets.create_secret(Name="pd", SecretString=json.dumps(stand_ins.secrets()[PAGERDUTY]))
    teams = secrets.create_secret(Name="teams", SecretString=json.dumps(stand_ins.secrets()[TEAMS]))
    topic = sns.create_topic(Name="tourniquet-email")["TopicArn"]
    queue = sqs.create_queue(QueueName="emails")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    for name, value in {
        "CHANNEL_ROUTES": json.dumps({"pagerduty": {}, "teams": {}, "email": {}}),
        "PAGERDUTY_SECRET_ARN": pagerduty["ARN"],
        "PAGERDUTY_EVENTS_URL": stand_ins.pagerduty_url,
        "TEAMS_SECRET_ARN": teams["ARN"],
        "EMAIL_TOPIC_ARN": topic,
    }.items():
        monkeypatch.setenv(name, value)
    return Channels(slack, stand_ins, queue)


def notify(event: dict[str, Any]) -> dict[str, Any]:
    return handler.notify(event, CONTEXT)


def alert_only_outcome() -> dict[str, Any]:
    """NotifyOutcome for an incident that nothing was done for (the playbook only alerts)."""
    state = approval_event()
    plan = {**state["plan"], "automatic": [], "approval": [], "notes": ["the instance is protected"]}
    return {
        "kind": "outcome",
        "incident": state["incident"],
        "outcome": {"status": "alerted", "approval": {"decision": "not_required"}, "actions": []},
        "alert": state["alert"],
        "plan": plan,
        "diagnostics": state["diagnostics"],
        "execution_id": EXECUTION,
    }


def needs_human_card(channels: Channels) -> dict[str, Any]:
    open_incident()
    # The card is all Slack is meant to get: the "opened" update is the card's.
    assert notify(alert_only_outcome()) == {"posted": True}
    incident = store.get_incident(INCIDENT_ID) or {}
    item = store.table().get_item(Key={"pk": f"APPROVAL#{incident['ack_approval_id']}", "sk": "APPROVAL"})[
        "Item"
    ]
    return store.plain(item)


def test_an_alert_only_incident_gets_the_whole_card_and_needs_a_human_on_every_channel(channels: Channels):
    ack = needs_human_card(channels)

    message = channels.slack.fake.message(channels.slack.channel, ack["slack_ts"])
    assert message is not None
    shown = json.dumps(message.blocks, ensure_ascii=False)
    for part in ("*Diagnostics*", "*Next steps (runbook)*", "First seen", "in all", "Status: needs a human"):
        assert part in shown, part
    assert "Outcome: alerted" not in shown and "closed" not in shown
    [(_, button)] = message.buttons()
    assert (button["action_id"], button["value"]) == (ACKNOWLEDGE_ACTION_ID, ack["approval_id"])
    [trigger] = channels.received(PAGERDUTY)
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", INCIDENT_ID)
    assert "the instance is protected" in trigger["payload"]["summary"]
    [teams] = channels.received(TEAMS)
    assert "Status: needs a human" in json.dumps(teams)
    [email] = channels.emails()
    assert email["Subject"].startswith("[Tourniquet] HIGH needs a human: ")


def test_acknowledge_records_the_person_once_and_acknowledges_in_pagerduty(channels: Channels):
    ack = needs_human_card(channels)

    first = interact(slack_request(click_payload(ack, action=ACKNOWLEDGE_ACTION_ID)))
    again = interact(slack_request(click_payload(ack, action=ACKNOWLEDGE_ACTION_ID)))

    assert (first["statusCode"], again["statusCode"]) == (200, 200)
    assert kinds().count("acknowledged") == 1
    assert store.get_incident(INCIDENT_ID)["acknowledged_by"] == APPROVER
    assert [e["event_action"] for e in channels.received(PAGERDUTY)] == ["trigger", "acknowledge"]
    message = channels.slack.fake.message(channels.slack.channel, ack["slack_ts"])
    assert message is not None and message.buttons() == []
    assert f"*Taken* by <@{APPROVER}>" in json.dumps(message.blocks, ensure_ascii=False)
    assert ephemeral_texts(channels.slack, APPROVER)[-1].startswith("This was already acknowledged by")


def test_acknowledge_by_someone_not_allowed_records_nothing(channels: Channels):
    ack = needs_human_card(channels)

    interact(slack_request(click_payload(ack, user=STRANGER, action=ACKNOWLEDGE_ACTION_ID)))

    assert "acknowledged" not in kinds()
    assert kinds()[-1] == "rejected_click"
    assert [e["event_action"] for e in channels.received(PAGERDUTY)] == ["trigger"]


def test_an_approval_request_names_who_approves_in_slack_and_the_cli_fallback(channels: Channels):
    request_card()

    [trigger] = channels.received(PAGERDUTY)
    [teams] = channels.received(TEAMS)
    assert trigger["payload"]["custom_details"]["status"] == "approval needed"
    note = trigger["payload"]["custom_details"]["approval"]
    assert note.startswith(
        "Approval needed for stop_instance: approve or deny on the card in Slack #incidents-"
    )
    assert f"tourniquet approve {INCIDENT_ID} --approve" in note
    assert APPROVER in json.dumps(teams)


def test_an_expired_approval_pages_and_an_ended_incident_resolves(channels: Channels):
    request_card()
    expired = {"status": "expired", "approval": {"decision": "expired"}}
    notify({"kind": "outcome", "incident": {"id": INCIDENT_ID}, "outcome": expired})
    released = {"incident_id": INCIDENT_ID, "status": "released", "restorations": []}
    notify(
        {
            "kind": "released",
            "incident": {"id": INCIDENT_ID},
            "actor": "arn:aws:iam::1:role/R",
            "release": released,
        }
    )

    events = [(e["event_action"], e["dedup_key"]) for e in channels.received(PAGERDUTY)]
    assert events == [
        ("trigger", INCIDENT_ID),
        ("trigger", f"{INCIDENT_ID}:approval-expired"),
        ("resolve", INCIDENT_ID),
    ]
    assert channels.received(PAGERDUTY)[1]["payload"]["severity"] == "critical"


TRACE = 'Traceback (most recent call last):\n  File "/var/task/tourniquet/x.py", line 9, in run\n    boom()\n'


@pytest.mark.parametrize(
    "error",
    [
        {
            "Error": "ContainmentFailed",
            "Cause": json.dumps(
                {"errorMessage": "eni-1 refused", "errorType": "ContainmentFailed", "stackTrace": [TRACE]}
            ),
        },
        {
            "Error": "KeyError",
            "Cause": json.dumps({"errorMessage": "'x'\n" + TRACE, "errorType": "KeyError"}),
        },
        {"Error": "States.Runtime", "Cause": "The step failed.\n" + TRACE},
        {"Error": "States.Timeout"},
    ],
    ids=["lambda-error", "trace-in-message", "trace-as-text", "no-cause"],
)
def test_a_failure_is_told_in_plain_words_on_every_channel_never_with_a_stack_trace(
    channels: Channels, error: dict[str, Any]
):
    request_card()
    state = {**approval_event(), "error": error}
    state.pop("task_token")

    notify({"kind": "failure", "state": state, "execution_id": EXECUTION})

    messages = channels.every_message()
    told = [m for m in messages if "What to do next" in m or '"next"' in m]
    assert len(told) >= 4, "Slack, PagerDuty, Teams, e-mail and the page each say what to do next"
    assert [m for m in messages if has_stack_trace(m) or "stackTrace" in m or "var/task" in m] == []
    [trigger] = [e for e in channels.received(PAGERDUTY) if "failed" in e["payload"]["summary"]]
    assert "i-0a1b2c3d4e5f67890" in trigger["payload"]["summary"]


def test_a_channel_outage_is_on_the_timeline_and_slack_and_the_other_channels_still_hear(channels: Channels):
    with channels.stand_ins.outage(PAGERDUTY):
        request_card()

    [error] = [e for e in store.timeline(INCIDENT_ID) if e["kind"] == "channel_error"]
    assert (error["channel"], error["update"]) == ("pagerduty", "opened")
    assert error["error"] == "PagerDuty unavailable (HTTP 503), after 3 attempts"
    assert len(channels.received(TEAMS)) == 1
    assert "approval_requested" in kinds()


def test_a_slack_outage_is_on_the_timeline_and_the_other_channels_still_hear(channels: Channels):
    request_card()
    channels.slack.fake.fail_next("chat.postMessage", status=503)

    expired = {"status": "expired", "approval": {"decision": "expired"}}
    result = notify({"kind": "outcome", "incident": {"id": INCIDENT_ID}, "outcome": expired})

    assert result == {"posted": False}
    [error] = [e for e in store.timeline(INCIDENT_ID) if e["kind"] == "channel_error"]
    assert (error["channel"], error["update"]) == ("slack", "expired")
    assert error["error"] == "Slack chat.postMessage failed: HTTP 503"
    assert [e["dedup_key"] for e in channels.received(PAGERDUTY)][-1] == f"{INCIDENT_ID}:approval-expired"
    assert len(channels.received(TEAMS)) == 2
    assert [e["Subject"] for e in channels.emails()][-1].startswith("[Tourniquet] HIGH approval expired: ")


@pytest.mark.parametrize(
    ("slack_route", "failed_in"),
    [({"playbooks": ["ec2_*"]}, "Diagnose"), ({"severities": ["CRITICAL"]}, "Contain")],
    ids=["before-the-plan", "outside-slacks-route"],
)
def test_a_failure_reaches_slack_whatever_slacks_route_and_is_told_as_posted_only_when_it_was(
    channels: Channels, monkeypatch: pytest.MonkeyPatch, slack_route: dict[str, Any], failed_in: str
):
    """A Diagnose failure has no plan, so no playbook; a HIGH alert is outside a CRITICAL-only route."""
    monkeypatch.setenv(
        "CHANNEL_ROUTES", json.dumps({"slack": slack_route, "pagerduty": {}, "teams": {}, "email": {}})
    )
    open_incident()
    state = {**approval_event(), "error": {"Error": "States.Timeout"}}
    state.pop("task_token")
    if failed_in == "Diagnose":
        state.pop("plan")

    assert notify({"kind": "failure", "state": state, "execution_id": EXECUTION}) == {"posted": True}

    [told] = channels.slack.fake.messages(channels.slack.channel)
    assert "Incident response failed" in told.text
    assert [page["slack_posted"] for page in channels.slack.pages()] == [True]
    channels.slack.fake.fail_next("chat.postMessage", status=503)
    assert notify({"kind": "failure", "state": state, "execution_id": EXECUTION}) == {"posted": False}
    assert [page["slack_posted"] for page in channels.slack.pages()] == [False]
