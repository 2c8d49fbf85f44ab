"""Microsoft Teams: the incident as an Adaptive Card, posted through a Teams Workflows webhook (the Office 365
connectors are retired). Each change of status goes as a follow-up card, and a report (the weekly report)
as a card of its own. A Workflows webhook cannot take a decision back, so a card that waits for an approval
names who decides it in Slack and the CLI fallback.
The webhook URL is a credential (whoever holds it can post) and lives in Secrets Manager
(``TEAMS_SECRET_ARN``: ``{"webhook_url": "https://…"}``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from tourniquet.channels.base import STATUS_CHANGES, Bound, Update, UpdateKind, channel_secret
from tourniquet.channels.http import check_url, post_json
from tourniquet.settings import get_settings

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_COLOR = {"CRITICAL": "Attention", "HIGH": "Warning", "MEDIUM": "Warning"}
# Adaptive Card text is markdown: untrusted text must not make links, emphasis or lists.
_MARKDOWN = re.compile(r"([\\`*_\[\]~])")
# Nor start a list or a heading at the beginning of a line.
_LINE_START = re.compile(r"^(\s*)([-+#>]|\d+\.)", re.MULTILINE)
_TEXT_LIMIT = 2000


class TeamsSecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    webhook_url: SecretStr


class Teams:
    name: ClassVar[str] = "teams"
    kinds: ClassVar[frozenset[UpdateKind]] = STATUS_CHANGES

    def __init__(self, webhook_url: str) -> None:
        self._url = check_url(webhook_url, "Teams webhook URL")

    @classmethod
    def connect(cls) -> Teams:
        arn = get_settings().teams_secret_arn
        secret = channel_secret(arn, TeamsSecret, "Teams secret", "TEAMS_SECRET_ARN")
        return cls(secret.webhook_url.get_secret_value())

    def send(self, update: Update, bound: Bound) -> None:
        post_json(self._url, message(update), bound, what="Teams")

    def send_report(self, title: str, text: str, bound: Bound) -> None:
        post_json(self._url, _message(report_card(title, text)), bound, what="Teams")


def message(update: Update) -> dict[str, Any]:
    """The webhook body: one message carrying one Adaptive Card."""
    return _message(card(update))


def _message(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def report_card(title: str, text: str) -> dict[str, Any]:
    """A report: its title, then each line of its text as a block of its own."""
    body = [_text(title, weight="Bolder", size="Medium")]
    body += [_text(line) for line in text.splitlines() if line.strip()]
    return _adaptive_card(body, actions=[])


def card(update: Update) -> dict[str, Any]:
    follow_up = update.kind is not UpdateKind.OPENED
    heading = (
        f"Update on incident {update.incident_id}" if follow_up else f"{update.severity} · {update.title}"
    )
    body: list[dict[str, Any]] = [
        _text(heading, weight="Bolder", size="Medium", color=_COLOR.get(update.severity, "Default")),
        _text(f"Status: {update.status}", weight="Bolder"),
        _text(update.summary),
    ]
    if update.reason:
        body.append(_text(update.reason))
    if update.next_step:
        body.append(_text(f"What to do next: {update.next_step}"))
    if not follow_up:
        facts = [
            *update.facts,
            ("Incident", update.incident_id),
            ("First seen", update.first_seen or "unknown"),
            ("Last seen", update.last_seen or update.first_seen or "unknown"),
            ("Count", str(update.count)),
        ]
        body.append(
            {"type": "FactSet", "facts": [{"title": _escape(n), "value": _escape(v)} for n, v in facts]}
        )
        body += _list("Diagnostics", update.diagnostics)
        body += _list("Next steps (runbook)", update.next_steps, numbered=True)
    if update.approval:
        body.append(_text(update.approval, weight="Bolder"))
    if update.by:
        body.append(_text(f"By {update.by}", is_subtle=True))
    actions = [{"type": "Action.OpenUrl", "title": text[:60], "url": url} for text, url in update.links[:5]]
    return _adaptive_card(body, actions)


def _adaptive_card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }


def _list(title: str, items: tuple[str, ...], *, numbered: bool = False) -> list[dict[str, Any]]:
    if not items:
        return []
    lines = [
        f"{n}\\. {_escape(item)}" if numbered else f"\\- {_escape(item)}" for n, item in enumerate(items, 1)
    ]
    return [_text(title, weight="Bolder"), {"type": "TextBlock", "text": "\n\n".join(lines), "wrap": True}]


def _text(text: str, *, is_subtle: bool = False, **style: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": _escape(text), "wrap": True, **style}
    if is_subtle:
        block["isSubtle"] = True
    return block


def _escape(text: str) -> str:
    clipped = text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
    return _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", clipped))
