"""Press a button on a posted Slack card the way Slack does: a signed ``block_actions`` interaction.

The request is what Slack sends to an app's request URL: a form-encoded body ``payload=<json>``, with
``X-Slack-Request-Timestamp`` and a v0 ``X-Slack-Signature`` made with the app's signing secret. The
timestamp, signature, secret and payload can each be overridden to play an attacker.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from sandbox.slack import APP_ID, TEAM_DOMAIN, TEAM_ID, FakeSlack, SlackMessage


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def find_button(card: SlackMessage, action_id: str) -> tuple[str, dict[str, Any]]:
    """``(block_id, element)`` of the card's button with ``action_id``."""
    for block_id, element in card.buttons():
        if element.get("action_id") == action_id:
            return block_id, element
    present = [element.get("action_id") for _, element in card.buttons()]
    raise LookupError(f"the card has no button {action_id!r} (buttons: {present})")


def block_actions_payload(
    card: SlackMessage,
    action_id: str,
    *,
    user_id: str,
    user_name: str,
    channel_name: str,
    response_url: str,
    verification_token: str,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user_id`` presses button ``action_id`` on ``card``."""
    block_id, button = find_button(card, action_id)
    now = time.time()
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": button.get("text", {"type": "plain_text", "text": action_id, "emoji": True}),
        "type": "button",
        "action_ts": f"{now:.6f}",
    }
    if "value" in button:
        action["value"] = button["value"]
    if "style" in button:
        action["style"] = button["style"]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": verification_token,
        "container": {
            "type": "message",
            "message_ts": card.ts,
            "channel_id": card.channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(now)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": card.channel, "name": channel_name},
        "message": card.to_api(),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def form_body(payload: Mapping[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def signed_headers(body: bytes, signing_secret: str, timestamp: str) -> dict[str, str]:
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    if signature is None:
        raise ValueError("could not sign the request")
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float = 30.0) -> HttpResult:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 - local URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local URL
            return HttpResult(response.status, dict(response.headers.items()), response.read().decode())
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, dict(error.headers.items()), error.read().decode())


class Clicker:
    """Sends interactions to ``url``, signed with ``signing_secret``, for cards posted to ``slack``."""

    def __init__(self, url: str, signing_secret: str, slack: FakeSlack) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.slack = slack
        self.verification_token = secrets.token_urlsafe(18)

    def payload(self, card: SlackMessage, action_id: str, user_id: str) -> dict[str, Any]:
        user = self.slack.user(user_id)
        return block_actions_payload(
            card,
            action_id,
            user_id=user_id,
            user_name=user.name if user else user_id.lower(),
            channel_name=self.slack.channel_name(card.channel),
            response_url=self.slack.response_url(card.channel, card.ts),
            verification_token=self.verification_token,
        )

    def click(
        self,
        card: SlackMessage,
        action_id: str,
        user_id: str,
        *,
        payload: Mapping[str, Any] | None = None,
        timestamp: str | None = None,
        signature: str | None = None,
        signing_secret: str | None = None,
    ) -> HttpResult:
        """Press ``action_id`` on ``card`` as ``user_id``. ``payload`` replaces the one Slack would build."""
        body = form_body(payload if payload is not None else self.payload(card, action_id, user_id))
        return self.send(body, timestamp=timestamp, signature=signature, signing_secret=signing_secret)

    def send(
        self,
        body: bytes,
        *,
        timestamp: str | None = None,
        signature: str | None = None,
        signing_secret: str | None = None,
    ) -> HttpResult:
        """POST a raw interaction body (a replay, a tampered body), signed unless told otherwise."""
        stamp = timestamp if timestamp is not None else str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **signed_headers(body, signing_secret or self.signing_secret, stamp),
        }
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        return post(self.url, body, headers)
