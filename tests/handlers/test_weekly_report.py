"""WeeklyReport: the last seven days' incidents, read through the by-type index, posted to the channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from sandbox.slack import FakeSlack
from tests.handlers.approvals import CONTEXT, SlackEnv, running_fake_slack, slack_environment
from tests.helpers import moto_client
from tourniquet import store
from tourniquet.reports import handler

INDEXED_TABLE = "tourniquet-indexed"


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


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

    assert handler.weekly({}, CONTEXT) == {"incidents": 2, "posted": True}

    [message] = slack.fake.messages(slack.channel)
    assert message.text.startswith("📊 *Weekly incident report*")
    assert "*2 incidents*: 1 contained, 1 denied; 0 duplicate alerts folded" in message.text
    assert "Time to contain: median 3.0 s, p90 3.8 s (2 incidents)" in message.text
    # Alert text is escaped for Slack.
    assert "`AwsEc2Instance i-0&lt;b&gt;` (2)" in message.text
