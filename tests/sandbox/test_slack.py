"""The fake Slack Web API, driven by the real slack_sdk client."""

from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import BOT_USER_ID, FakeSlack, SlackUser

TOKEN = "xoxb-sandbox-test"
CARD = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Incident inc-42"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "ap-1",
            },
        ],
    },
]


@pytest.fixture
def slack():
    fake = FakeSlack(TOKEN).start()
    yield fake
    fake.stop()


def client(slack, token=TOKEN):
    return WebClient(token=token, base_url=slack.api_url)


def test_post_message_is_recorded_and_answered_in_slack_shape(slack):
    response = client(slack).chat_postMessage(channel="#security-incidents", text="hello", blocks=CARD)

    [call] = slack.calls("chat.postMessage")
    assert response["ok"] is True
    assert response["channel"] == slack.channel_id("#security-incidents") == call.channel
    assert response["ts"] == call.ts
    assert response["message"]["user"] == BOT_USER_ID
    assert response["message"]["blocks"][0]["block_id"]
    assert call.text == "hello"
    assert call.blocks[1]["elements"][0]["value"] == "ap-1"


def test_a_bad_token_is_rejected_and_recorded(slack):
    with pytest.raises(SlackApiError) as raised:
        client(slack, token="xoxb-wrong").chat_postMessage(channel="#c", text="x")

    assert raised.value.response["error"] == "invalid_auth"
    assert [(call.method, call.ok, call.error) for call in slack.calls()] == [
        ("chat.postMessage", False, "invalid_auth")
    ]
    assert slack.messages() == []


def test_update_replaces_the_message_and_keeps_its_history(slack):
    web = client(slack)
    posted = web.chat_postMessage(channel="#c", text="pending", blocks=CARD)

    web.chat_update(channel=posted["channel"], ts=posted["ts"], text="approved by alice", blocks=[])

    [message] = slack.messages()
    assert message.text == "approved by alice"
    assert message.revisions[0]["text"] == "pending"
    assert slack.message("#c", posted["ts"]) == message
    assert slack.find_message("approved by") == message
    assert slack.find_card("inc-42") is None
    with pytest.raises(SlackApiError, match="message_not_found"):
        web.chat_update(channel=posted["channel"], ts="1.000001", text="x")


def test_injected_failures_answer_like_slack(slack):
    web = client(slack)
    slack.fail_next("chat.postMessage", error="ratelimited")
    slack.fail_next("chat.update", status=500)
    slack.fail_next("users.info", error="fatal_error")

    with pytest.raises(SlackApiError) as limited:
        web.chat_postMessage(channel="#c", text="x")
    with pytest.raises(SlackApiError) as broken:
        web.chat_update(channel="#c", ts="1.1", text="x")
    with pytest.raises(SlackApiError, match="fatal_error"):
        web.users_info(user=BOT_USER_ID)

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    assert broken.value.response.status_code == 500
    assert web.chat_postMessage(channel="#c", text="again")["ok"] is True


def test_directory_methods_answer_from_configured_users_and_groups(slack):
    slack.add_user(SlackUser("U1", "alice"))
    slack.add_usergroup("S1", ["U1"])
    web = client(slack)

    assert web.usergroups_users_list(usergroup="S1")["users"] == ["U1"]
    assert web.users_info(user="U1")["user"]["name"] == "alice"
    assert web.auth_test()["user_id"] == BOT_USER_ID
    with pytest.raises(SlackApiError, match="user_not_found"):
        web.users_info(user="U404")
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        web.usergroups_users_list(usergroup="S404")


def test_ephemeral_messages_are_kept_apart(slack):
    slack.add_user(SlackUser("U1", "alice"))

    client(slack).chat_postEphemeral(channel="#c", user="U1", text="only you")

    assert slack.messages() == []
    assert slack.ephemeral()[0]["text"] == "only you"


def test_find_card_and_wait_for_see_a_card_posted_from_another_thread(slack):
    poster = threading.Timer(0.2, lambda: client(slack).chat_postMessage(channel="#c", text="x", blocks=CARD))
    poster.start()

    card = slack.wait_for(lambda: slack.find_card("inc-42"), timeout=5)

    poster.join()
    assert [element["action_id"] for _, element in card.buttons()] == ["approve"]
    assert slack.find_card("inc-43") is None
    with pytest.raises(TimeoutError, match=r"chat\.postMessage:ok"):
        slack.wait_for(lambda: slack.find_card("inc-43"), timeout=0.2)
