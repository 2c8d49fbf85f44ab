"""A page on 127.0.0.1 that shows a sandbox incident as Slack would, with its timeline, while it runs.

The card is drawn from the blocks the fake Slack recorded (the message in its current state). Its buttons do
what Slack's do: the page asks this server to press one, and the server sends the signed ``block_actions``
request through the sandbox's real interactions endpoint, as the approver, exactly as the sandbox's clicker
does. The page gets neither a task token nor a button's value: only what a person sees.

The server listens on 127.0.0.1 only. A press needs the page's own header (another site's page cannot read
it) and the server's own host name (a rebound DNS name cannot borrow the page).
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from sandbox.core import Sandbox
from sandbox.loopback import LoopbackServer
from sandbox.slack import SlackMessage
from tourniquet import store
from tourniquet.reports import summary
from tourniquet_cli import event_text, report_html
from tourniquet_cli.charts import spans, timeline_svg
from tourniquet_cli.scenario import Progress

PAGE = Path(__file__).with_name("incident_page.html")
PAGE_HEADER = "X-Tourniquet-Page"
# A sandbox lives for one run: the report of its table covers the day.
REPORT_PERIOD = timedelta(days=1)
# When the run ends, how long the page may take to ask for the last time (it asks every 0.7 s).
FINAL_STATE_SECONDS = 5.0
_MAX_BODY = 4096
_HIDDEN_ELEMENT_KEYS = ("value", "url")


class IncidentPage:
    """Serves the incident of the execution it follows (:meth:`follow`); start with :meth:`start`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._server = LoopbackServer("incident-page")
        # Proves a press comes from the page served here; and lets only that page's script run.
        self.nonce = secrets.token_urlsafe(24)
        self._lock = threading.Lock()
        self._execution: str | None = None
        self._incident: str | None = None
        self.shown_finished = threading.Event()

    def start(self) -> IncidentPage:
        self._server.start(_handler_class(self))
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> IncidentPage:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{self._server.base_url}/"

    def follow(self, execution_arn: str) -> None:
        """Show the incident this execution opens (the page waits for it)."""
        with self._lock:
            self._execution, self._incident = execution_arn, None

    # What the page reads

    def incident_id(self) -> str | None:
        with self._lock:
            execution, known = self._execution, self._incident
        if known or execution is None:
            return known
        found = self.sandbox.incident_id_for(execution)
        with self._lock:
            if self._execution == execution:
                self._incident = found
        return found

    def card(self, incident_id: str) -> SlackMessage | None:
        """The incident's card in its current state, once the incident records it: the step that posts a
        card records it after posting, and a press before then would find no card to bind to."""
        incident = store.get_incident(incident_id) or {}
        channel, ts = incident.get("slack_channel"), incident.get("slack_ts")
        return self.sandbox.slack.message(str(channel), str(ts)) if channel and ts else None

    def state(self) -> dict[str, Any]:
        incident_id = self.incident_id()
        if incident_id is None:
            return {"incident_id": None, "status": "waiting for the alert", "finished": False}
        incident = store.get_incident(incident_id) or {}
        card = self.card(incident_id)
        thread = [
            message.text
            for message in self.sandbox.slack.messages()
            if card is not None and message.thread_ts == card.ts
        ]
        with self._lock:
            execution = self._execution
        stepfunctions = self.sandbox.client("stepfunctions")
        running = (
            execution is not None
            and stepfunctions.describe_execution(executionArn=execution)["status"] == "RUNNING"
        )
        return {
            "incident_id": incident_id,
            "status": str(incident.get("status", "open")),
            "finished": not running,
            "approver": self.sandbox.approver.name,
            # Slack shows a mention by the person's name.
            "users": {self.sandbox.approver.id: self.sandbox.approver.name},
            "card": {"text": card.text, "blocks": _shown(card.blocks)} if card is not None else None,
            "thread": thread,
            "timeline": [_event(event) for event in store.timeline(incident_id)],
        }

    def timeline_svg(self) -> str:
        incident_id = self.incident_id()
        if incident_id is None:
            return timeline_svg([], title="Waiting for the alert")
        return timeline_svg(spans(store.timeline(incident_id)), title=f"Timeline of {incident_id}")

    def report_html(self) -> str:
        """``tourniquet report --format html`` on the sandbox's table: every incident of this run."""
        now = store.now()
        since, until = store.iso(now - REPORT_PERIOD), store.iso(now)
        incidents = list(summary.read(since))
        return report_html.render(summary.summarize(incidents, since, until), incidents)

    def press(self, action_id: str) -> tuple[int, str]:
        """Press a button of the incident's card as the approver, through the signed interactions path."""
        incident_id = self.incident_id()
        card = self.card(incident_id) if incident_id else None
        if card is None:
            return 409, "there is no card to press yet"
        if action_id not in {element.get("action_id") for _, element in card.buttons()}:
            return 409, f"the card has no button {action_id!r} now"
        return self.sandbox.click(card, action_id)

    # Serving

    def allows(self, headers: Message, *, press: bool) -> bool:
        """The request is for this server by name, and a press comes from the page it served."""
        own = self._server.base_url.removeprefix("http://")
        if headers.get("Host") != own:
            return False
        if not press:
            return True
        origin = headers.get("Origin")
        return (
            secrets.compare_digest(headers.get(PAGE_HEADER, ""), self.nonce)
            and (origin is None or origin == self._server.base_url)
            and headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
        )

    def html(self) -> str:
        return PAGE.read_text().replace("__PAGE_HEADER__", PAGE_HEADER).replace("__NONCE__", self.nonce)


@contextmanager
def served(sandbox: Sandbox, progress: Progress, say: Callable[[str], None]) -> Iterator[IncidentPage]:
    """The page, opened in the browser, following each execution as it starts; at the end it stays up until
    it has shown the finished run (or for :data:`FINAL_STATE_SECONDS`), and in a terminal until Enter is
    pressed."""
    with IncidentPage(sandbox) as page:
        progress.started = page.follow
        say(f"Incident page: {page.url} (press Approve or Deny there)")
        webbrowser.open(page.url)
        yield page
        # The run has ended: the page shows how before it stops.
        page.shown_finished.wait(FINAL_STATE_SECONDS)
        if sys.stdin.isatty():
            say("The page stays up until you press Enter.")
            sys.stdin.readline()


def _shown(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks as a person sees them: buttons without the values Slack sends back on a press."""
    shown = json.loads(json.dumps(blocks))
    for block in shown:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            for key in _HIDDEN_ELEMENT_KEYS:
                element.pop(key, None)
    return list(shown)


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": event.get("at"),
        "kind": event.get("kind"),
        "actor": event.get("actor"),
        "target": event_text.target(event.get("target")),
        "verified": event.get("verified"),
        "detail": event_text.detail(event),
    }


def _length(value: str | None) -> int | None:
    """A request's Content-Length (0 when there is none), or None when it is not a number of bytes."""
    if value is None:
        return 0
    return int(value) if value.strip().isdigit() else None


def _handler_class(page: IncidentPage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not page.allows(self.headers, press=False):
                self._send(403, "text/plain", b"forbidden")
                return
            path = self.path.split("?")[0]
            if path == "/":
                self._send(200, "text/html; charset=utf-8", page.html().encode())
            elif path == "/state":
                state = page.state()
                self._send(200, "application/json", json.dumps(state, default=str).encode())
                if state.get("finished"):
                    page.shown_finished.set()
            elif path == "/timeline.svg":
                self._send(200, "image/svg+xml", page.timeline_svg().encode())
            elif path == "/report.html":
                self._send(200, "text/html; charset=utf-8", page.report_html().encode())
            else:
                self._send(404, "text/plain", b"not found")

        def do_POST(self) -> None:
            length = _length(self.headers.get("Content-Length"))
            if length is None:
                self._send(
                    400, "application/json", b'{"error": "Content-Length must be a whole number of bytes"}'
                )
                return
            if self.path != "/press" or not page.allows(self.headers, press=True) or length > _MAX_BODY:
                self._send(403, "application/json", b'{"error": "forbidden"}')
                return
            try:
                action_id = str(json.loads(self.rfile.read(length))["action_id"])
            except (ValueError, KeyError, TypeError):
                self._send(400, "application/json", b'{"error": "expected {\\"action_id\\": ...}"}')
                return
            status, body = page.press(action_id)
            self._send(200, "application/json", json.dumps({"status": status, "body": body}).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            # Nothing but this page's own script and styles, and no framing by another site.
            self.send_header(
                "Content-Security-Policy",
                f"default-src 'none'; script-src 'nonce-{page.nonce}'; style-src 'unsafe-inline'; "
                "img-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the terminal shows the workflow's progress, not each request."""

    return Handler
