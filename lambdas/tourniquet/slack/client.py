"""Slack Web API calls. Every failure becomes :class:`SlackUnavailable`, which callers record and survive:
Slack is a convenience for people, never a dependency of containment."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web import SlackResponse

from tourniquet import store
from tourniquet.errors import SlackUnavailable
from tourniquet.logs import logger
from tourniquet.secrets import slack_secret
from tourniquet.settings import get_settings

DEFAULT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Message:
    """Where a posted message lives: Slack answers with the channel id even when posting to ``#name``."""

    channel: str
    ts: str


class Slack:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    @classmethod
    def connect(cls, *, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> Slack:
        """A client with the bot token; raises :class:`SlackUnavailable` if the secret cannot be read."""
        token = slack_secret().bot_token.get_secret_value()
        return cls(WebClient(token=token, base_url=get_settings().slack_api_url, timeout=timeout))

    def post(
        self, channel: str, text: str, *, blocks: Sequence[Block] | None = None, thread_ts: str | None = None
    ) -> Message:
        response = _call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
            ),
        )
        posted_channel, ts = response.get("channel"), response.get("ts")
        if not isinstance(posted_channel, str) or not isinstance(ts, str):
            raise SlackUnavailable("chat.postMessage failed: the response has no channel or ts")
        return Message(channel=posted_channel, ts=ts)

    def update(self, message: Message, text: str, blocks: Sequence[Block]) -> None:
        _call(
            "chat.update",
            lambda: self._client.chat_update(
                channel=message.channel, ts=message.ts, text=text, blocks=blocks
            ),
        )

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """The user ids in a Slack user group (needs the ``usergroups:read`` scope)."""
        response = _call(
            "usergroups.users.list", lambda: self._client.usergroups_users_list(usergroup=group_id)
        )
        users = response.get("users")
        if not isinstance(users, list) or not all(isinstance(user, str) for user in users):
            raise SlackUnavailable("usergroups.users.list failed: the response has no user list")
        return frozenset(users)

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        _call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
        )


def _call(operation: str, call: Callable[[], SlackResponse]) -> SlackResponse:
    try:
        return call()
    except SlackApiError as exc:
        reason = exc.response.get("error") if exc.response is not None else None
        raise SlackUnavailable(f"{operation} failed: {reason or 'error'}") from exc
    # urllib reports refused connections, resets and timeouts as OSError subclasses.
    except (OSError, http.client.HTTPException) as exc:
        raise SlackUnavailable(f"{operation} failed: {type(exc).__name__}") from exc


def record_slack_error(incident_id: str | None, exc: SlackUnavailable) -> None:
    """Log a Slack failure and, when it concerns an incident, add it to the incident's timeline."""
    logger.warning("slack call failed", extra={"incident_id": incident_id, "error": str(exc)})
    if incident_id:
        store.append_event(incident_id, "slack_error", error=str(exc))
