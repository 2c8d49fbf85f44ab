"""NotifyDuplicate, NotifyOutcome and NotifyFailure against moto and the fake Slack Web API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    SlackEnv,
    click_payload,
    interact,
    kinds,
    open_incident,
    request_card,
    slack_request,
)
from tourniquet import store
from tourniquet.errors import EscalationFailed
from tourniquet.notify import handler

EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1"
ACTIONS = [
    {
        "name": "tag_instance",
        "mode": "auto",
        "status": "done",
        "target": "i-0a1b2c3d4e5f67890",
        "verified": True,
    },
    {
        "name": "stop_instance",
        "mode": "approval",
        "status": "done",
        "target": "i-0a1b2c3d4e5f67890",
        "verified": True,
    },
]


def notify(event: dict[str, Any]) -> dict[str, Any]:
    return handler.notify(event, CONTEXT)


def incident_state(duplicate_count: int = 0) -> dict[str, Any]:
    return {
        "id": INCIDENT_ID,
        "duplicate": duplicate_count > 0,
        "duplicate_count": duplicate_count,
        "dedup_key": "k",
    }


def thread_replies(env: SlackEnv, ts: str) -> list[str]:
    return [message.text for message in env.fake.messages(env.channel) if message.thread_ts == ts]


# What a Lambda function's uncaught exception becomes in the state: its message, type and stack trace.
STACK_TRACE = [
    '  File "/var/task/tourniquet/containment/runner.py", line 27, in run\n    raise ContainmentFailed(\n'
]


def failure_event(with_incident: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {
        "alert": {"title": "irrelevant here"},
        "error": {
            "Error": "ContainmentFailed",
            "Cause": json.dumps(
                {
                    "errorMessage": "isolate_network: <@U0BOSS> eni-1 refused",
                    "errorType": "ContainmentFailed",
                    "stackTrace": STACK_TRACE,
                }
            ),
        },
    }
    if with_incident:
        state["incident"] = incident_state()
    return {"kind": "failure", "state": state, "execution_id": EXECUTION}


def test_a_failure_is_told_in_plain_words_never_with_the_stack_trace(slack):
    card = request_card()
    slack.pages()

    notify(failure_event())

    (reply,) = thread_replies(slack, card["slack_ts"])
    (page,) = slack.pages()
    for told in (reply, json.dumps(page)):
        assert "eni-1 refused" in told
        assert "runner.py" not in told
        assert "stackTrace" not in told
        assert "errorType" not in told


# Duplicates


def test_a_duplicate_is_a_threaded_reply_on_the_card(slack):
    card = request_card()

    result = notify({"kind": "duplicate", "incident": incident_state(duplicate_count=3)})

    assert result == {"posted": True}
    assert thread_replies(slack, card["slack_ts"]) == ["🔁 Seen again (3×)"]  # noqa: RUF001


def test_a_duplicate_of_an_incident_without_a_card_posts_nothing(slack):
    open_incident()

    result = notify({"kind": "duplicate", "incident": incident_state(duplicate_count=1)})

    assert result == {"posted": False}
    assert slack.fake.messages(slack.channel) == []


def test_a_slack_failure_on_a_duplicate_is_recorded_not_raised(slack):
    request_card()
    slack.fake.fail_next("chat.postMessage", error="not_in_channel")

    result = notify({"kind": "duplicate", "incident": incident_state(duplicate_count=2)})

    assert result == {"posted": False}
    error = store.timeline(INCIDENT_ID)[-1]
    assert (error["kind"], error["channel"], error["update"]) == ("channel_error", "slack", "repeated")
    assert error["error"] == "Slack chat.postMessage failed: not_in_channel"


# Outcomes


def test_the_outcome_updates_the_card_to_its_final_state_and_summarizes_in_the_thread(slack):
    card = request_card()
    interact(slack_request(click_payload(card)))

    result = notify(
        {
            "kind": "outcome",
            "incident": incident_state(),
            "outcome": {"status": "contained", "approval": {"decision": "approve"}, "actions": ACTIONS},
        }
    )

    assert result == {"posted": True}
    final = slack.fake.message(slack.channel, card["slack_ts"])
    assert final is not None
    assert final.buttons() == []
    blocks = json.dumps(final.blocks, ensure_ascii=False)
    assert f"✅ *Approved* by <@{APPROVER}>" in blocks
    assert "*Outcome: contained*\\n✅ tag_instance (auto): done\\n✅ stop_instance (approval): done" in blocks
    summary = thread_replies(slack, card["slack_ts"])[-1]
    assert summary.startswith(f"🏁 Incident `{INCIDENT_ID}` closed\n✅ *Approved* by <@{APPROVER}>")
    assert summary.endswith("✅ stop_instance (approval): done")


def test_an_outcome_without_a_card_is_announced_in_the_channel(slack):
    open_incident()

    result = notify(
        {
            "kind": "outcome",
            "incident": incident_state(),
            "outcome": {
                "status": "contained",
                "approval": {"decision": "not_required"},
                "actions": ACTIONS[:1],
            },
        }
    )

    assert result == {"posted": True}
    (message,) = slack.fake.messages(slack.channel)
    assert message.thread_ts is None
    assert message.text.startswith("🟠 *HIGH* · EC2 instance i-0a1b2c3d4e5f67890")
    assert (
        f"🏁 Incident `{INCIDENT_ID}` closed\n*Outcome: contained*\n✅ tag_instance (auto): done"
        in message.text
    )


def test_a_slack_failure_on_the_outcome_is_recorded_not_raised(slack):
    request_card()
    slack.fake.fail_next("chat.update", error="internal_error", status=500)

    outcome = {"status": "expired", "approval": {"decision": "expired"}}

    result = notify({"kind": "outcome", "incident": incident_state(), "outcome": outcome})

    assert result == {"posted": False}
    assert kinds()[-1] == "slack_error"


# Failures


def test_a_failure_is_posted_in_the_incident_thread_and_paged(slack):
    card = request_card()
    slack.pages()

    result = notify(failure_event())

    assert result == {"posted": True}
    (reply,) = thread_replies(slack, card["slack_ts"])
    assert reply.startswith("❗ *Incident response failed*: containment could not be carried out")
    assert "*What to do next*: Contain the resource by hand" in reply
    assert f"`tourniquet incident show {INCIDENT_ID}`" in reply
    assert "&lt;@U0BOSS&gt;" in reply
    assert "<@U0BOSS>" not in reply
    assert f"Incident `{INCIDENT_ID}` · execution `{EXECUTION}`" in reply
    (page,) = slack.pages()
    assert page["event"] == "failure"
    assert page["incident_id"] == INCIDENT_ID
    assert page["error"] == "ContainmentFailed"
    assert page["reason"] == "isolate_network: <@U0BOSS> eni-1 refused"
    assert page["execution_id"] == EXECUTION
    assert page["slack_posted"] is True


def test_a_failure_while_the_card_waits_replaces_its_buttons_with_the_reason(slack):
    card = request_card()
    event = failure_event()
    event["state"]["error"] = {
        "Error": "MemberRoleUnavailable",
        "Cause": json.dumps(
            {
                "errorType": "MemberRoleUnavailable",
                "errorMessage": "Tourniquet's member role TourniquetContain is missing in account "
                "111122223333 or does not trust this deployment: deploy the member stack there",
                "stackTrace": STACK_TRACE,
            }
        ),
    }

    notify(event)

    message = slack.fake.message(slack.channel, card["slack_ts"])
    assert message is not None
    assert message.buttons() == []
    shown = json.dumps(message.blocks)
    assert "deploy the member stack there" in shown
    assert "runner.py" not in shown


def test_a_failed_release_started_from_the_cli_leaves_the_incidents_card_as_it_was(slack):
    card = request_card()
    before = slack.fake.message(slack.channel, card["slack_ts"])
    assert before is not None
    event = failure_event() | {"release": True}  # as NotifyReleaseFailed sends it; no release approval

    notify(event)

    after = slack.fake.message(slack.channel, card["slack_ts"])
    assert after is not None
    assert (after.blocks, after.buttons()) == (before.blocks, before.buttons())
    assert thread_replies(slack, card["slack_ts"])[0].startswith("❗")


def test_a_failure_before_any_incident_existed_goes_to_the_channel_and_is_paged(slack):
    result = notify(failure_event(with_incident=False))

    assert result == {"posted": True}
    (message,) = slack.fake.messages(slack.channel)
    assert message.thread_ts is None
    assert "Incident `none`" in message.text
    (page,) = slack.pages()
    assert page["incident_id"] is None
    assert page["error"] == "ContainmentFailed"


def test_a_failure_records_when_even_recording_it_failed(slack):
    event = failure_event(with_incident=False)
    event["state"]["record_error"] = {"Error": "Lambda.ServiceException", "Cause": "..."}

    notify(event)

    assert slack.pages()[0]["record_error"] == "Lambda.ServiceException"


def test_when_slack_fails_a_failure_is_still_paged_and_the_slack_error_recorded(slack):
    request_card()
    slack.pages()
    slack.fake.fail_next("chat.postMessage", error="channel_not_found")

    result = notify(failure_event())

    assert result == {"posted": False}
    error = store.timeline(INCIDENT_ID)[-1]
    assert (error["kind"], error["channel"], error["update"]) == ("channel_error", "slack", "failed")
    (page,) = slack.pages()
    assert page["slack_posted"] is False


def test_when_the_page_fails_the_step_fails(slack, monkeypatch):
    request_card()
    monkeypatch.setenv("ESCALATION_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:missing")

    with pytest.raises(EscalationFailed):
        notify(failure_event())

    assert thread_replies(slack, store.get_incident(INCIDENT_ID)["slack_ts"])[0].startswith("❗")


def test_a_notice_of_an_unknown_kind_is_refused(slack):
    with pytest.raises(ValidationError):
        notify({"kind": "party", "incident": incident_state()})
