"""E-mail, through an SNS topic with e-mail subscriptions (``EMAIL_TOPIC_ARN``): a readable subject and a
plain-text body for each change of status and each report (the weekly report). SNS sends the body as it is:
no markup to escape."""

from __future__ import annotations

import re
from typing import ClassVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import aws
from tourniquet.channels.base import STATUS_CHANGES, Bound, ChannelFailed, Update, UpdateKind
from tourniquet.settings import get_settings

# SNS subjects: at most 100 printable ASCII characters, no line breaks.
_SUBJECT_LIMIT = 100
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_CONFIGS: dict[Bound, Config] = {}


class Email:
    name: ClassVar[str] = "email"
    kinds: ClassVar[frozenset[UpdateKind]] = STATUS_CHANGES

    def __init__(self, topic_arn: str) -> None:
        self._topic_arn = topic_arn

    @classmethod
    def connect(cls) -> Email:
        arn = get_settings().email_topic_arn
        if not arn:
            raise ChannelFailed("no e-mail topic is configured (EMAIL_TOPIC_ARN)")
        return cls(arn)

    def send(self, update: Update, bound: Bound) -> None:
        self._publish(subject(update), body(update), bound)

    def send_report(self, title: str, text: str, bound: Bound) -> None:
        self._publish(report_subject(title), text, bound)

    def _publish(self, subject: str, message: str, bound: Bound) -> None:
        try:
            aws.client("sns", config=_config(bound)).publish(
                TopicArn=self._topic_arn, Subject=subject, Message=message
            )
        except ClientError as exc:
            raise ChannelFailed(f"SNS refused the e-mail ({aws.error_code(exc) or 'error'})") from exc
        except BotoCoreError as exc:
            raise ChannelFailed(f"SNS could not be reached ({type(exc).__name__})") from exc


def _config(bound: Bound) -> Config:
    """The SDK's retries and timeouts within the bound (one config per bound: clients are kept per config)."""
    if bound not in _CONFIGS:
        _CONFIGS[bound] = Config(
            retries={"mode": "standard", "max_attempts": bound.attempts},
            connect_timeout=bound.timeout,
            read_timeout=bound.timeout,
        )
    return _CONFIGS[bound]


def subject(update: Update) -> str:
    return _subject(f"[Tourniquet] {update.severity} {update.status}: {update.title}")


def report_subject(title: str) -> str:
    return _subject(f"[Tourniquet] {title}")


def _subject(text: str) -> str:
    return _UNPRINTABLE.sub("?", " ".join(text.split()))[:_SUBJECT_LIMIT]


def body(update: Update) -> str:
    lines = [
        f"Incident {update.incident_id}: {update.status}",
        "",
        update.summary,
        "",
    ]
    if update.reason:
        lines += [update.reason, ""]
    if update.next_step:
        lines += [f"What to do next: {update.next_step}", ""]
    if update.kind is UpdateKind.OPENED:
        lines += [f"{name}: {value}" for name, value in update.facts]
        lines += [
            f"First seen: {update.first_seen or 'unknown'}",
            f"Last seen: {update.last_seen or update.first_seen or 'unknown'}",
            f"Count: {update.count}",
        ]
        if update.diagnostics:
            lines += ["", "Diagnostics:", *(f"- {line}" for line in update.diagnostics)]
        if update.next_steps:
            lines += ["", "Next steps (runbook):", *(f"{n}. {s}" for n, s in enumerate(update.next_steps, 1))]
    if update.approval:
        lines += ["", update.approval]
    if update.by:
        lines += ["", f"By: {update.by}"]
    if update.links:
        lines += ["", *(f"{text}: {url}" for text, url in update.links)]
    lines += ["", f"The timeline: tourniquet incident show {update.incident_id}"]
    return "\n".join(lines)
