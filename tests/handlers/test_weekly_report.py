"""WeeklyReport: the last seven days' incidents, read through the by-type index, sent side by side to the
channels that carry reports (Slack, the Teams stand-in, e-mail through moto's SNS), never to PagerDuty; a
retry of the scheduled run sends only to the channels that did not get it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from sandbox.channels import PAGERDUTY, TEAMS, ChannelStandIns
from sandbox.slack import FakeSlack
from tests.handlers.approvals import CONTEXT, SlackEnv, slack_environment
from tests.helpers import moto_client
from tourniquet import store
from tourniquet.channels import Bound, ChannelFailed, http
from tourniquet.reports import handler

INDEXED_TABLE = "tourniquet-indexed"


def scheduled(weeks_later: int = 0) -> dict[str, str]:
    """What EventBridge Scheduler sends: the schedule's input, its context attribute filled in."""
    moment = store.now().replace(second=0, microsecond=0) + timedelta(weeks=weeks_later)
    return {"scheduled_time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    """The stack's table, with its by-type index."""
    string = "S"
    moto_client("dynamodb").create_table(
        TableName=INDEXED_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": string} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-type",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("TABLE_NAME", INDEXED_TABLE)
    return slack_environment(fake_slack, monkeypatch)


def incident(incident_id: str, days_ago: float, status: str, contained_after: float) -> None:
    opened = store.now() - timedelta(days=days_ago)
    kind = "Backdoor:EC2/C&CActivity.B"
    store.table().put_item(
        Item={
            "pk": store.incident_pk(incident_id),
            "sk": store.INCIDENT_SK,
            "incident_id": incident_id,
            "status": status,
            "type": kind,
            "first_seen": store.iso(opened),
            "alert": {"resources": [{"type": "AwsEc2Instance", "id": "i-0<b>"}]},
            "gsi1pk": f"TYPE#{kind}",
            "gsi1sk": store.iso(opened),
        }
    )
    store.table().put_item(Item=store.event_item(incident_id, "opened", at=store.iso(opened)))
    acted = opened + timedelta(seconds=contained_after)
    store.table().put_item(
        Item=store.event_item(
            incident_id, "action", at=store.iso(acted), mode="auto", status="done", verified=True
        )
    )


def test_the_week_is_summed_up_in_the_channel_and_older_incidents_are_left_out(slack: SlackEnv):
    incident("inc-recent1", 1, "contained", 2)
    incident("inc-recent2", 6, "denied", 4)
    incident("inc-old", 8, "contained", 100)

    assert handler.weekly({}, CONTEXT) == {"incidents": 2, "channels": {"slack": "sent"}}

    [message] = slack.fake.messages(slack.channel)
    assert message.text.startswith("📊 *Weekly report: 2 incidents, ")
    assert "\n2 incidents: 1 contained, 1 denied; 0 duplicate alerts folded\n" in message.text
    assert "Time to contain: median 3.0 s, p90 3.8 s (2 incidents)" in message.text
    # Alert text is escaped for Slack.
    assert "Most affected: AwsEc2Instance i-0&lt;b&gt; (2)" in message.text


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[ChannelStandIns]:
    running = ChannelStandIns().start()
    yield running
    running.stop()


@pytest.fixture
def email_queue(slack: SlackEnv, stand_ins: ChannelStandIns, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every channel configured, as the sandbox configures them; e-mails land in the queue returned."""
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.01)
    secrets, sns, sqs = moto_client("secretsmanager"), moto_client("sns"), moto_client("sqs")
    teams = secrets.create_secret(Name="teams", SecretString=json.dumps(stand_ins.secrets()[TEAMS]))
    topic = sns.create_topic(Name="tourniquet-email")["TopicArn"]
    queue = sqs.create_queue(QueueName="emails")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=attributes["QueueArn"])
    # Routes that take no incident of this week's: a report goes to a channel whatever its route.
    route = {"severities": ["CRITICAL"], "playbooks": ["rds-*"]}
    monkeypatch.setenv("CHANNEL_ROUTES", json.dumps(dict.fromkeys(("pagerduty", "teams", "email"), route)))
    monkeypatch.setenv("TEAMS_SECRET_ARN", teams["ARN"])
    monkeypatch.setenv("EMAIL_TOPIC_ARN", topic)
    # The weekly report is given no PagerDuty secret: PagerDuty pages people and never gets a report.
    monkeypatch.delenv("PAGERDUTY_SECRET_ARN", raising=False)
    return queue


def emails(queue: str) -> list[dict[str, Any]]:
    messages = moto_client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_report_goes_to_slack_teams_and_email_and_never_to_pagerduty(
    slack: SlackEnv, stand_ins: ChannelStandIns, email_queue: str
):
    seen = len(stand_ins.received())
    incident("inc-recent1", 1, "contained", 2)

    result = handler.weekly({}, CONTEXT)

    assert result["channels"] == {"slack": "sent", "teams": "sent", "email": "sent"}
    [message] = slack.fake.messages(slack.channel)
    assert message.text.startswith("📊 *Weekly report: 1 incidents, ")
    [teams] = [r for r in stand_ins.received()[seen:] if r.channel == TEAMS]
    [card] = [a["content"] for a in teams.body["attachments"]]
    assert card["body"][0]["text"].startswith("Weekly report: 1 incidents, ")
    # Adaptive Card text is Markdown: the resource's HTML is shown as text, its emphasis escaped.
    assert "Most affected: AwsEc2Instance i-0<b> (1)" in [block["text"] for block in card["body"]]
    assert not [r for r in stand_ins.received()[seen:] if r.channel == PAGERDUTY]
    [email] = emails(email_queue)
    assert email["Subject"].startswith("[Tourniquet] Weekly report: 1 incidents, ")
    assert "Most affected: AwsEc2Instance i-0<b> (1)" in email["Message"].splitlines()


def test_a_teams_outage_fails_the_run_naming_teams_and_holds_back_neither_slack_nor_email(
    slack: SlackEnv, stand_ins: ChannelStandIns, email_queue: str, caplog: pytest.LogCaptureFixture
):
    incident("inc-recent1", 1, "contained", 2)

    with stand_ins.outage(TEAMS), pytest.raises(ChannelFailed) as failed:
        handler.weekly(scheduled(), CONTEXT)

    assert str(failed.value) == (
        "The weekly report did not reach teams (Teams unavailable (HTTP 503), after 3 attempts);"
        " slack and email have it. A retry of the run sends it to teams only."
    )
    assert len(slack.fake.messages(slack.channel)) == 1
    assert [e["Subject"][:36] for e in emails(email_queue)] == ["[Tourniquet] Weekly report: 1 incide"]
    [logged] = [r for r in caplog.records if r.getMessage() == "report not delivered"]
    assert (logged.levelname, logged.channel) == ("WARNING", "teams")


def test_a_slack_outage_does_not_stop_the_report_reaching_teams_and_email_and_the_retry_posts_only_to_slack(
    slack: SlackEnv, stand_ins: ChannelStandIns, email_queue: str
):
    seen = len(stand_ins.received())
    incident("inc-recent1", 1, "contained", 2)
    slack.fake.fail_next("chat.postMessage", status=503)
    run = scheduled()

    with pytest.raises(
        ChannelFailed, match=r"^The weekly report did not reach slack \(Slack chat.postMessage"
    ):
        handler.weekly(run, CONTEXT)
    assert slack.fake.messages(slack.channel) == []
    [teams] = [r for r in stand_ins.received()[seen:] if r.channel == TEAMS]
    [email] = emails(email_queue)

    retried = handler.weekly(run, CONTEXT)

    assert retried["channels"] == {"slack": "sent", "teams": "sent before", "email": "sent before"}
    [message] = slack.fake.messages(slack.channel)
    # The same report: the period ends at the scheduled time, whenever the retry runs.
    assert email["Subject"].removeprefix("[Tourniquet] ") in message.text
    assert [r for r in stand_ins.received()[seen:] if r.channel == TEAMS] == [teams]
    assert emails(email_queue) == []
    # A later week's report is a new one, sent everywhere.
    later = handler.weekly(scheduled(weeks_later=1), CONTEXT)
    assert later["channels"] == {"slack": "sent", "teams": "sent", "email": "sent"}


def test_a_report_whose_slack_answer_times_out_is_posted_once(
    slack: SlackEnv, stand_ins: ChannelStandIns, email_queue: str, monkeypatch: pytest.MonkeyPatch
):
    """Slack may have stored a post it did not answer in time: the run fails (Slack is not marked as sent),
    it does not post again."""
    monkeypatch.setattr(handler, "BOUND", Bound(attempts=3, timeout=1.0, total=5.0))
    incident("inc-recent1", 1, "contained", 2)
    slack.fake.answer_slowly("chat.postMessage", 1.5)

    with pytest.raises(ChannelFailed, match=r"^The weekly report did not reach slack .*TimeoutError"):
        handler.weekly(scheduled(), CONTEXT)

    assert len(slack.fake.messages(slack.channel)) == 1
