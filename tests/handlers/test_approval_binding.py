"""A click decides only the approval of the message it was clicked on.

The payload's ``container`` (channel and message timestamp) must be the card the approval recorded when it
posted it. Any other click changes nothing, is recorded on the incident's timeline as a rejected click with
its reason, and is answered with an ephemeral message, never an error.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.handlers.approvals import (
    APPROVER,
    INCIDENT_ID,
    approval_item,
    click_payload,
    ephemeral_texts,
    interact,
    kinds,
    request_card,
    slack_request,
    snapshot,
)
from tourniquet import store

OTHER_INCIDENT = "inc-fedcba987654"
WRONG_MESSAGE = "This button is not on this approval's card: nothing was changed."


def on_message(payload: dict[str, Any], channel: str | None, ts: str | None) -> dict[str, Any]:
    payload["container"] = {"type": "message", "channel_id": channel, "message_ts": ts, "is_ephemeral": False}
    payload["channel"] = {"id": channel}
    return payload


def rejection(incident_id: str = INCIDENT_ID) -> dict[str, Any]:
    """The one rejected click on the incident's timeline."""
    (event,) = [event for event in store.timeline(incident_id) if event["kind"] == "rejected_click"]
    return event


def test_the_right_button_on_a_different_message_changes_nothing(slack, sfn_calls):
    first, second = request_card(), request_card(OTHER_INCIDENT)
    before = snapshot(first["approval_id"]), snapshot(second["approval_id"], OTHER_INCIDENT)

    # The first approval's id, clicked on the second approval's card.
    payload = on_message(click_payload(first), second["slack_channel"], second["slack_ts"])
    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert (snapshot(first["approval_id"]), snapshot(second["approval_id"], OTHER_INCIDENT)) == before
    assert sfn_calls == []
    assert ephemeral_texts(slack, APPROVER) == [WRONG_MESSAGE]
    event = rejection()
    assert (event["actor"], event["approval_id"], event["reason"]) == (
        APPROVER,
        first["approval_id"],
        "wrong_message",
    )
    assert (event["channel"], event["message_ts"]) == (second["slack_channel"], second["slack_ts"])
    assert kinds(OTHER_INCIDENT) == ["approval_requested"]


def test_a_forged_payload_naming_another_approval_changes_nothing(slack, sfn_calls):
    first, second = request_card(), request_card(OTHER_INCIDENT)

    # Clicked on the first card, but the button's value names the second approval.
    response = interact(slack_request(click_payload(first, value=second["approval_id"])))

    assert response["statusCode"] == 200
    assert approval_item(first["approval_id"])["status"] == "pending"
    assert approval_item(second["approval_id"])["status"] == "pending"
    assert sfn_calls == []
    assert ephemeral_texts(slack, APPROVER) == [WRONG_MESSAGE]
    assert rejection(OTHER_INCIDENT)["reason"] == "wrong_message"
    assert kinds() == ["approval_requested"]


def test_a_deny_on_a_different_message_changes_nothing(slack, sfn_calls):
    first, second = request_card(), request_card(OTHER_INCIDENT)

    interact(slack_request(click_payload(second, action="deny", value=first["approval_id"])))

    assert approval_item(first["approval_id"])["status"] == "pending"
    assert sfn_calls == []
    assert rejection()["decision"] == "deny"


@pytest.mark.parametrize(
    ("channel", "ts"),
    [
        ("C0ELSEWHERE", "card"),
        ("card", "1795331381.000999"),
        ("card", None),
        (None, "card"),
        (None, None),
        ("not a channel id", "card"),
        ("card", "../../etc"),
    ],
    ids=["other-channel", "other-ts", "no-ts", "no-channel", "neither", "bad-channel", "bad-ts"],
)
def test_a_click_whose_message_is_not_the_card_changes_nothing(slack, sfn_calls, channel, ts):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    payload = on_message(
        click_payload(approval),
        approval["slack_channel"] if channel == "card" else channel,
        approval["slack_ts"] if ts == "card" else ts,
    )

    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert rejection()["reason"] == "wrong_message"
    if channel != "C0ELSEWHERE":  # the answer goes where the click came from, else to the card's channel
        assert ephemeral_texts(slack, APPROVER) == [WRONG_MESSAGE]


def test_a_click_from_a_modal_changes_nothing(slack, sfn_calls):
    approval = request_card()
    payload = click_payload(approval)
    payload["container"] = {"type": "view", "view_id": "V0123ABC"}
    del payload["channel"]

    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert approval_item(approval["approval_id"])["status"] == "pending"
    assert sfn_calls == []
    assert rejection()["reason"] == "wrong_message"


def test_an_approval_whose_card_was_never_posted_cannot_be_decided_by_a_click(slack, sfn_calls):
    slack.fake.fail_next("chat.postMessage", error="channel_not_found")
    approval = request_card()
    assert "slack_ts" not in approval
    before = snapshot(approval["approval_id"])
    payload = on_message(click_payload(approval), slack.channel_id(), "1795331381.000001")

    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert rejection()["reason"] == "card_not_posted"
    assert ephemeral_texts(slack, APPROVER) == [
        "This approval's card was never posted, so no button can decide it: nothing was changed."
        f" Decide it with `tourniquet approve {INCIDENT_ID}`."
    ]


def test_the_click_on_the_cards_own_message_decides(slack, sfn_calls):
    approval = request_card()
    payload = on_message(click_payload(approval), approval["slack_channel"], approval["slack_ts"])

    response = interact(slack_request(payload))

    assert response["statusCode"] == 200
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    assert approval_item(approval["approval_id"])["status"] == "approved"
