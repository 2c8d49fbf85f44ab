"""The Release button: offered on the closed card, approved through the same gate, starting the release
workflow once; and NotifyReleased. Against moto and the fake Slack Web API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    INSTANCE,
    STRANGER,
    SlackEnv,
    approval_event,
    approval_item,
    click_payload,
    ephemeral_texts,
    interact,
    kinds,
    open_incident,
    request_card,
    slack_request,
)
from tests.helpers import TEST_SCOPE, moto_client
from tourniquet import store
from tourniquet.notify import handler

SECOND_APPROVER = "U0OTHERAPP"
OUTCOME_ACTIONS = [
    {"name": "isolate_network", "mode": "auto", "status": "done", "target": INSTANCE, "verified": True},
    {"name": "stop_instance", "mode": "approval", "status": "done", "target": INSTANCE, "verified": True},
]


@pytest.fixture
def release_machine(slack: SlackEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    """The release workflow, recorded by moto (not executed): what a click starts is read back from it."""
    arn = moto_client("stepfunctions").create_state_machine(
        name="tourniquet-release",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/release",
    )["stateMachineArn"]
    monkeypatch.setenv("RELEASE_STATE_MACHINE_ARN", arn)
    return str(arn)


def executions(machine: str) -> list[dict[str, Any]]:
    sfn = moto_client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def contained(actions: tuple[str, ...] = ("isolate_network",)) -> None:
    store.put_new(
        [
            store.undo_item(INCIDENT_ID, action, INSTANCE, {"instance_id": INSTANCE}, scope=TEST_SCOPE)
            for action in actions
        ]
    )


def close(status: str = "contained") -> dict[str, Any]:
    return handler.notify(
        {
            "kind": "outcome",
            "incident": {"id": INCIDENT_ID, "duplicate_count": 0},
            "outcome": {
                "status": status,
                "approval": {"decision": {"denied": "deny", "expired": "expired"}.get(status, "approve")},
                "actions": OUTCOME_ACTIONS,
            },
            "alert": approval_event()["alert"],
            "plan": approval_event()["plan"],
            "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1",
        },
        CONTEXT,
    )


def decided_card() -> dict[str, Any]:
    """An incident whose approval was decided (approved), with isolation on record: ready to close."""
    card = request_card()
    interact(slack_request(click_payload(card)))
    contained()
    return card


def release_offer() -> dict[str, Any]:
    incident = store.get_incident(INCIDENT_ID)
    assert incident is not None
    item = approval_item(incident["release_approval_id"])
    assert item is not None
    return item


def card_blocks(env: SlackEnv, ts: str) -> str:
    message = env.fake.message(env.channel, ts)
    assert message is not None
    return json.dumps(message.blocks, ensure_ascii=False)


def release_click(offer: dict[str, Any], user: str = APPROVER, action: str = "release") -> dict[str, Any]:
    return interact(slack_request(click_payload(offer, user=user, action=action)))


# The offer


def test_a_closed_incident_with_something_to_release_gets_a_release_button(slack, sfn_calls):
    card = decided_card()

    assert close() == {"posted": True}

    offer = release_offer()
    assert offer["kind"] == "release"
    assert offer["status"] == "pending"
    assert offer["actions"] == ["release"]
    assert "task_token" not in offer
    assert (offer["slack_channel"], offer["slack_ts"]) == (card["slack_channel"], card["slack_ts"])
    expires = datetime.fromisoformat(offer["deadline"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    message = slack.fake.message(slack.channel, card["slack_ts"])
    assert message is not None
    [(block_id, button)] = message.buttons()
    assert (block_id, button["action_id"], button["value"]) == ("release", "release", offer["approval_id"])
    assert button["confirm"]["confirm"]["text"] == "Release"
    assert "*Outcome: contained*" in card_blocks(slack, card["slack_ts"])
    assert kinds()[-1] == "release_offered"


@pytest.mark.parametrize("undo", [(), ("snapshot_volumes",)], ids=["nothing-changed", "only-evidence-kept"])
def test_nothing_to_restore_means_no_release_button(slack, undo):
    card = request_card()
    interact(slack_request(click_payload(card)))
    contained(undo)

    close()

    message = slack.fake.message(slack.channel, card["slack_ts"])
    assert message is not None
    assert message.buttons() == []
    assert "release_approval_id" not in (store.get_incident(INCIDENT_ID) or {})


def test_a_retried_outcome_offers_the_same_release(slack):
    decided_card()
    close()
    first = release_offer()

    close()

    assert release_offer()["approval_id"] == first["approval_id"]
    assert kinds().count("release_offered") == 1


def test_without_an_approval_card_the_closed_card_is_posted_with_the_button(slack):
    open_incident()
    contained()

    close()

    (message,) = slack.fake.messages(slack.channel)[:1]
    assert message.thread_ts is None
    [(_, button)] = message.buttons()
    offer = release_offer()
    assert button["value"] == offer["approval_id"]
    assert offer["slack_ts"] == message.ts
    assert (store.get_incident(INCIDENT_ID) or {})["slack_ts"] == message.ts


def test_a_retried_outcome_after_the_release_click_shows_no_button_again(slack, release_machine):
    card = decided_card()
    close()
    release_click(release_offer())

    close()

    message = slack.fake.message(slack.channel, card["slack_ts"])
    assert message is not None
    assert message.buttons() == []
    assert f"🔓 *Release approved* by <@{APPROVER}>" in card_blocks(slack, card["slack_ts"])


# The click


def test_an_approver_releases_and_the_release_workflow_starts_once(slack, release_machine):
    card = decided_card()
    close()
    offer = release_offer()

    response = release_click(offer)
    release_click(offer)

    assert response["statusCode"] == 200
    (execution,) = executions(release_machine)
    assert execution["name"] == offer["approval_id"]
    assert json.loads(execution["input"]) == {
        "incident": {
            "id": INCIDENT_ID,
            "duplicate": False,
            "duplicate_count": 0,
            "dedup_key": None,
            "folded": False,
            "contain": False,
            "correlation_key": None,
        },
        "approval_id": offer["approval_id"],
        "actor": APPROVER,
        "approvers": [APPROVER],
        "dry_run": False,
    }
    assert release_offer()["status"] == "approved"
    blocks = card_blocks(slack, card["slack_ts"])
    assert f"🔓 *Release approved* by <@{APPROVER}>" in blocks
    message = slack.fake.message(slack.channel, card["slack_ts"])
    assert message is not None
    assert message.buttons() == []
    assert ephemeral_texts(slack, APPROVER)[-1].startswith(f"This was already released by <@{APPROVER}>")
    decision = [e for e in store.timeline(INCIDENT_ID) if e["kind"] == "decision"][-1]
    assert (decision["actor"], decision["actions"]) == (APPROVER, ["release"])


def test_someone_who_is_not_an_approver_cannot_release(slack, release_machine):
    decided_card()
    close()
    offer = release_offer()

    release_click(offer, user=STRANGER)

    assert executions(release_machine) == []
    assert release_offer()["status"] == "pending"
    assert ephemeral_texts(slack, STRANGER) == [
        "You are not authorized to approve or deny Tourniquet actions."
    ]
    assert kinds()[-1] == "rejected_click"


def test_a_button_never_decides_another_kind_of_approval(slack, release_machine, sfn_calls):
    card = request_card()

    # A Release click naming the pending containment approval: its token is never used.
    release_click(card)
    assert approval_item(card["approval_id"])["status"] == "pending"
    assert sfn_calls == []

    interact(slack_request(click_payload(card)))
    contained()
    close()
    offer = release_offer()
    # An Approve click naming the release offer starts nothing.
    release_click(offer, action="approve")
    assert executions(release_machine) == []
    assert release_offer()["status"] == "pending"
    assert ephemeral_texts(slack, APPROVER).count("This approval is unknown: nothing was changed.") == 2


def test_when_the_release_workflow_cannot_start_the_offer_stays_pending(slack, monkeypatch):
    decided_card()
    close()
    offer = release_offer()
    monkeypatch.delenv("RELEASE_STATE_MACHINE_ARN", raising=False)

    release_click(offer)

    assert release_offer()["status"] == "pending"
    assert ephemeral_texts(slack, APPROVER)[-1] == (
        "The decision could not be delivered; the approval is still pending. Try again."
    )


def test_release_under_the_two_person_rule_waits_for_a_second_approver(slack, release_machine, monkeypatch):
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "release")
    card = decided_card()
    close()
    offer = release_offer()
    assert offer["required_approvals"] == 2

    release_click(offer)
    assert executions(release_machine) == []
    assert "1 of 2 approvals" in card_blocks(slack, card["slack_ts"])

    release_click(offer, user=SECOND_APPROVER)
    (execution,) = executions(release_machine)
    assert json.loads(execution["input"])["approvers"] == sorted([APPROVER, SECOND_APPROVER])


def test_an_expired_offer_points_to_the_cli(slack, release_machine):
    decided_card()
    close()
    offer = release_offer()
    store.table().update_item(
        Key={"pk": f"APPROVAL#{offer['approval_id']}", "sk": "APPROVAL"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": store.iso(datetime.now(UTC) - timedelta(seconds=1))},
    )

    release_click(offer)

    assert executions(release_machine) == []
    assert ephemeral_texts(slack, APPROVER)[-1] == (
        "This release offer expired: nothing was changed."
        f" Release from the CLI: `tourniquet release {INCIDENT_ID}`."
    )


# NotifyReleased


def test_the_released_card_and_thread_say_who_released_what(slack, release_machine):
    card = decided_card()
    close()
    offer = release_offer()
    release_click(offer)

    result = handler.notify(
        {
            "kind": "released",
            "incident": {"id": INCIDENT_ID},
            "approval_id": offer["approval_id"],
            "release": {
                "incident_id": INCIDENT_ID,
                "status": "released",
                "restorations": [
                    {"action": "isolate_network", "target": INSTANCE, "status": "done", "verified": True},
                    {"action": "snapshot_volumes", "target": INSTANCE, "status": "kept", "verified": True},
                ],
            },
        },
        CONTEXT,
    )

    assert result == {"posted": True}
    blocks = card_blocks(slack, card["slack_ts"])
    assert f"🔓 *Released* by <@{APPROVER}>: 1 restored and verified, 1 kept" in blocks
    assert "*Outcome: contained*" in blocks
    reply = [m.text for m in slack.fake.messages(slack.channel) if m.thread_ts == card["slack_ts"]][-1]
    assert f"✅ isolate_network on `{INSTANCE}`: done" in reply
    assert f"✅ snapshot_volumes on `{INSTANCE}`: kept" in reply


def test_a_failed_release_says_so_on_the_card_and_pages(slack, release_machine):
    card = decided_card()
    close()
    offer = release_offer()
    release_click(offer)

    handler.notify(
        {
            "kind": "failure",
            "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:release:x",
            "state": {
                "incident": {"id": INCIDENT_ID},
                "approval_id": offer["approval_id"],
                "error": {"Error": "ReleaseFailed", "Cause": "1 of 7 restorations failed"},
            },
        },
        CONTEXT,
    )

    blocks = card_blocks(slack, card["slack_ts"])
    assert "⚠️ *Release failed*: some resources may still be contained" in blocks
    assert f"tourniquet release {INCIDENT_ID}" in blocks
    [page] = [p for p in slack.pages() if p["event"] == "failure"]
    assert page["error"] == "ReleaseFailed"
