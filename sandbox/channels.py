"""Local stand-ins for PagerDuty's Events API v2 and a Microsoft Teams Workflows webhook, on 127.0.0.1.

Each records every request it receives (accepted or failed), checks the credential the deployment holds (the
routing key, the webhook's secret path) and answers as the service does: PagerDuty 202 with the dedup key,
Teams 202. A test can fail the next requests of a channel (:meth:`ChannelStandIns.fail_next`: any status,
with ``Retry-After``) or take a channel down altogether (:meth:`ChannelStandIns.outage`).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.loopback import LoopbackServer, reply

PAGERDUTY = "pagerduty"
TEAMS = "teams"
_PAGERDUTY_PATH = "/pagerduty/v2/enqueue"
_EVENT_ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})


@dataclass(frozen=True)
class Received:
    """One request to a stand-in: the channel, its JSON body and the answer it got."""

    channel: str
    body: dict[str, Any]
    status: int

    @property
    def ok(self) -> bool:
        return self.status < 300

    def text(self) -> str:
        """Everything the message would show a person, as one string (for scanning)."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class _Failure:
    status: int
    retry_after: str | None = None


@dataclass
class ChannelStandIns:
    routing_key: str = field(default_factory=lambda: secrets.token_hex(16))
    webhook_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _received: list[Received] = field(default_factory=list)
    _failures: dict[str, deque[_Failure]] = field(default_factory=lambda: defaultdict(deque))
    _down: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackServer = field(default_factory=lambda: LoopbackServer("channel-stand-ins"))

    def start(self, host: str = "127.0.0.1") -> ChannelStandIns:
        self._server = LoopbackServer("channel-stand-ins", host)
        self._server.start(_handler_class(self))
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def pagerduty_url(self) -> str:
        return f"{self._server.base_url}{_PAGERDUTY_PATH}"

    @property
    def teams_url(self) -> str:
        return f"{self._server.base_url}/teams/workflows/{self.webhook_token}"

    def secrets(self) -> Mapping[str, dict[str, str]]:
        """The secret each channel's deployed secret holds in the sandbox, by channel."""
        return {PAGERDUTY: {"routing_key": self.routing_key}, TEAMS: {"webhook_url": self.teams_url}}

    # Failure injection

    def fail_next(
        self, channel: str, *, status: int = 503, times: int = 1, retry_after: str | None = None
    ) -> None:
        with self._lock:
            self._failures[channel].extend([_Failure(status, retry_after)] * times)

    @contextmanager
    def outage(self, channel: str) -> Iterator[None]:
        """Every request to ``channel`` fails with HTTP 503 while the block runs."""
        with self._lock:
            self._down.add(channel)
        try:
            yield
        finally:
            with self._lock:
                self._down.discard(channel)

    # What happened

    def received(self, channel: str | None = None, *, incident: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self._received
                if (channel is None or r.channel == channel) and (incident is None or incident in r.text())
            ]

    def events(self, incident: str) -> list[tuple[str, str]]:
        """PagerDuty's accepted events about ``incident``: (event_action, dedup_key), in order."""
        return [
            (str(r.body.get("event_action")), str(r.body.get("dedup_key")))
            for r in self.received(PAGERDUTY)
            if r.ok and str(r.body.get("dedup_key", "")).startswith(incident)
        ]

    # Request handling

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        channel = PAGERDUTY if path == _PAGERDUTY_PATH else TEAMS if path.startswith("/teams/") else None
        if channel is None:
            return 404, {}, {"error": "not found"}
        with self._lock:
            failure = _Failure(503) if channel in self._down else None
            if failure is None and self._failures[channel]:
                failure = self._failures[channel].popleft()
            if failure is None:
                failure = self._refusal(channel, path, body)
            status = failure.status if failure else 202
            self._received.append(Received(channel, body, status))
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return failure.status, headers, {"status": "error", "message": "stand-in failure"}
        if channel == PAGERDUTY:
            return (
                202,
                {},
                {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
            )
        return 202, {}, {}

    def _refusal(self, channel: str, path: str, body: dict[str, Any]) -> _Failure | None:
        """What the real service refuses: a wrong credential or a malformed event."""
        if channel == TEAMS:
            return None if path == f"/teams/workflows/{self.webhook_token}" else _Failure(401)
        if body.get("routing_key") != self.routing_key:
            return _Failure(400)
        if body.get("event_action") not in _EVENT_ACTIONS or not body.get("dedup_key"):
            return _Failure(400)
        if body["event_action"] == "trigger":
            payload = body.get("payload") or {}
            if not (payload.get("summary") and payload.get("source") and payload.get("severity")):
                return _Failure(400)
        return None


def _handler_class(stand_ins: ChannelStandIns) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._reply(400, {}, {"status": "invalid event", "message": "not a JSON object"})
                return
            self._reply(*stand_ins.answer(self.path, body))

        def _reply(self, status: int, headers: Mapping[str, str], body: Mapping[str, Any]) -> None:
            reply(self, status, json.dumps(body).encode(), headers=headers)

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are recorded; nothing goes to stderr."""

    return Handler
