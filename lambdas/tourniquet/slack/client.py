"""Slack Web API calls. Every failure becomes :class:`SlackUnavailable`, which callers record and survive:
Slack is a convenience for people, never a dependency of containment."""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.models.blocks import Block
from slack_sdk.web import SlackResponse

from tourniquet import store
from tourniquet.errors import SlackUnavailable
from tourniquet.logs import logger
from tourniquet.secrets import slack_secret
from tourniquet.settings import get_settings

DEFAULT_TIMEOUT_SECONDS = 10
# The pause before each retry of a connection that failed: 0.5 s, then 1 s, 2 s, …
RETRY_INTERVAL = BackoffRetryIntervalCalculator(backoff_factor=0.5)


def connection_failed(retries: int) -> RetryHandler:
    """slack-sdk's retry of a connection that failed before the request was sent (refused, unreachable, timed
    out connecting: urllib wraps those in a URLError). Anything later (a read timed out, the connection was
    reset or closed before the answer, a 5xx) may follow a request Slack stored, and a post tried again would
    be posted twice, so it is never retried."""
    return ConnectionErrorRetryHandler(retries, RETRY_INTERVAL, error_types=[URLError])


@dataclass(frozen=True)
class Message:
    """Where a posted message lives: Slack answers with the channel id even when posting to ``#name``."""

    channel: str
    ts: str

    @classmethod
    def card_of(cls, incident: Mapping[str, Any] | None) -> Message | None:
        """The incident's card (its location is on the incident record), if one was posted."""
        if not incident:
            return None
        channel, ts = incident.get("slack_channel"), incident.get("slack_ts")
        if isinstance(channel, str) and channel and isinstance(ts, str) and ts:
            return cls(channel=channel, ts=ts)
        return None


class Slack:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, retries: Sequence[RetryHandler] | None = None
    ) -> Slack:
        """A client with the bot token; raises :class:`SlackUnavailable` if the secret cannot be read.
        ``retries``: slack-sdk's retry handlers (without: one retry of a connection that failed)."""
        token = slack_secret().bot_token.get_secret_value()
        client = WebClient(
            token=token,
            base_url=get_settings().slack_api_url,
            timeout=math.ceil(timeout),
            retry_handlers=list(retries) if retries is not None else [connection_failed(1)],
        )
        return cls(client)

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


def retries_within(attempts: int, seconds: float) -> list[RetryHandler]:
    """slack-sdk's retries of a connection that failed (:func:`connection_failed`) and of a 429 (after its
    Retry-After: Slack refused the request), ``attempts`` tries in all, each retry only when its wait ends
    within ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    count = max(attempts - 1, 0)
    handlers = [connection_failed(count), RateLimitErrorRetryHandler(count)]
    return [_Within(handler, deadline) for handler in handlers]


class _Within(RetryHandler):
    """A retry handler that retries only when its wait ends before ``deadline`` (a Retry-After longer than
    what is left fails at once)."""

    def __init__(self, handler: RetryHandler, deadline: float) -> None:
        super().__init__(handler.max_retry_count, handler.interval_calculator)
        self._handler = handler
        self._deadline = deadline

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            # RateLimitErrorRetryHandler sleeps Retry-After and up to a second more.
            wait = _retry_after(response) + 1
        else:
            wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        return time.monotonic() + wait < self._deadline and self._handler.can_retry(
            state=state, request=request, response=response, error=error
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self._handler.prepare_for_next_attempt(state=state, request=request, response=response, error=error)


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0])
            except ValueError:
                break
    return 1.0


def _call(operation: str, call: Callable[[], SlackResponse]) -> SlackResponse:
    try:
        return call()
    except SlackApiError as exc:
        response = exc.response
        if response is not None and response.status_code >= 500:
            # Its body is the server's page, not Slack's answer.
            reason: object = f"HTTP {response.status_code}"
        else:
            reason = response.get("error") if response is not None else None
        raise SlackUnavailable(f"{operation} failed: {reason or 'error'}") from exc
    # urllib reports refused connections, resets and timeouts as OSError subclasses.
    except (OSError, http.client.HTTPException) as exc:
        raise SlackUnavailable(f"{operation} failed: {type(exc).__name__}") from exc


def record_slack_error(incident_id: str | None, exc: SlackUnavailable) -> None:
    """Log a Slack failure and, when it concerns an incident, add it to the incident's timeline."""
    logger.warning("slack call failed", extra={"incident_id": incident_id, "error": str(exc)})
    if incident_id:
        store.append_event(incident_id, "slack_error", error=str(exc))
