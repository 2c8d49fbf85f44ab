"""PagerDuty, through the Events API v2: one alert per incident (``dedup_key`` is the incident id).

Opened → trigger (severity mapped, custom details, links); first human decision or acknowledgement →
acknowledge; ended or released → resolve; an expired approval → a new critical alert of its own (high urgency
under PagerDuty's severity-based urgency), since the incident's alert may already be acknowledged and a
trigger on it would page nobody. A failed run triggers the incident's alert (or one of its own, when the
failure came before the incident). The routing key lives in Secrets Manager (``PAGERDUTY_SECRET_ARN``:
``{"routing_key": "…"}``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from tourniquet.channels.base import STATUS_CHANGES, Bound, Update, UpdateKind, channel_secret
from tourniquet.channels.http import check_url, post_json
from tourniquet.settings import get_settings

# PagerDuty's severities; MEDIUM and below never page at high urgency.
SEVERITY = {
    "CRITICAL": "critical",
    "HIGH": "error",
    "MEDIUM": "warning",
    "LOW": "info",
    "INFORMATIONAL": "info",
}
_SUMMARY_LIMIT = 1024
_DEDUP_LIMIT = 255


class PagerDutySecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    routing_key: SecretStr


class PagerDuty:
    name: ClassVar[str] = "pagerduty"
    kinds: ClassVar[frozenset[UpdateKind]] = STATUS_CHANGES

    def __init__(self, routing_key: str, url: str) -> None:
        self._routing_key = routing_key
        self._url = check_url(url, "PagerDuty Events API URL")

    @classmethod
    def connect(cls) -> PagerDuty:
        settings = get_settings()
        secret = channel_secret(
            settings.pagerduty_secret_arn, PagerDutySecret, "PagerDuty secret", "PAGERDUTY_SECRET_ARN"
        )
        return cls(secret.routing_key.get_secret_value(), settings.pagerduty_events_url)

    def send(self, update: Update, bound: Bound) -> None:
        post_json(self._url, self.event(update), bound, what="PagerDuty")

    def event(self, update: Update) -> dict[str, Any]:
        """The Events API v2 body for ``update``."""
        key = update.incident_id[:_DEDUP_LIMIT]
        if update.kind is UpdateKind.ACKNOWLEDGED:
            return self._action("acknowledge", key)
        if update.kind in (UpdateKind.CLOSED, UpdateKind.RESOLVED, UpdateKind.RELEASED):
            return self._action("resolve", key)
        severity = SEVERITY.get(update.severity, "error")
        if update.kind is UpdateKind.EXPIRED:
            key, severity = f"{update.incident_id}:approval-expired"[:_DEDUP_LIMIT], "critical"
        elif update.kind is UpdateKind.FAILED:
            severity = "critical" if severity == "critical" else "error"
        summary = f"{update.severity} · {update.status} · {update.title}: {update.summary}"
        return {
            **self._action("trigger", key),
            "payload": {
                "summary": summary[:_SUMMARY_LIMIT],
                "source": update.source,
                "severity": severity,
                "component": update.resource,
                "group": update.playbook or None,
                "class": update.finding_type,
                "custom_details": _details(update),
            },
            "links": [{"href": url, "text": text} for text, url in update.links],
        }

    def _action(self, action: str, key: str) -> dict[str, Any]:
        return {"routing_key": self._routing_key, "event_action": action, "dedup_key": key}


def _details(update: Update) -> dict[str, Any]:
    details: dict[str, Any] = {
        "incident": update.incident_id,
        "status": update.status,
        "reason": update.reason,
        "next": update.next_step,
        **dict(update.facts),
        "first_seen": update.first_seen,
        "last_seen": update.last_seen,
        "count": update.count,
    }
    if update.diagnostics:
        details["diagnostics"] = list(update.diagnostics)
    if update.next_steps:
        details["next_steps"] = list(update.next_steps)
    if update.approval:
        details["approval"] = update.approval
    return {name: value for name, value in details.items() if value not in (None, "")}
