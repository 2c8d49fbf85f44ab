"""A fake Slack Web API on 127.0.0.1 that ``slack_sdk.WebClient(base_url=...)`` talks to.

It implements the methods Tourniquet uses (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``usergroups.users.list``, ``users.info``, ``auth.test``) and the ``response_url`` of interactive messages. It
checks the bot token, records every call, keeps the current state of every posted message, answers in Slack's
shapes and can be told to fail the next call of a method (``ratelimited``, an HTTP 500, any Slack error).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import secrets
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from sandbox.loopback import LoopbackServer, reply

T = TypeVar("T")

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "tourniquet-sandbox"
BOT_USER_ID = "U0TOURNIQ"
BOT_ID = "B0TOURNIQ"
APP_ID = "A0TOURNIQ"


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        real_name = self.real_name or self.name.title()
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": "Europe/London",
            "profile": {"real_name": real_name, "display_name": self.name, "team": TEAM_ID},
        }


@dataclass(frozen=True)
class SlackCall:
    """One request to the fake, accepted or not."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None
    status: int
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None


@dataclass
class SlackMessage:
    """A posted message in its current state; ``revisions`` holds what it looked like before each update."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    revisions: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The message as Slack returns it (and as it arrives in an interaction payload)."""
        message: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": self.text,
            "ts": self.ts,
            "team": TEAM_ID,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        return message

    def mentions(self, needle: str) -> bool:
        return needle in self.text or needle in json.dumps(self.blocks)

    def buttons(self) -> list[tuple[str, dict[str, Any]]]:
        """``(block_id, element)`` for every button in the message's action blocks."""
        found = []
        for block in self.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("type") == "button":
                    found.append((str(block.get("block_id", "")), element))
        return found


class _Failure(Exception):
    def __init__(self, error: str, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = dict(headers or {})


class FakeSlack:
    """Start with :meth:`start`; point ``WebClient(base_url=fake.api_url)`` at it."""

    def __init__(self, bot_token: str, *, host: str = "127.0.0.1") -> None:
        self.bot_token = bot_token
        self._server = LoopbackServer("fake-slack", host)
        self._changed = threading.Condition()
        self._calls: list[SlackCall] = []
        self._messages: dict[tuple[str, str], SlackMessage] = {}
        self._ephemeral: list[dict[str, Any]] = []
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._slow: dict[str, deque[float]] = defaultdict(deque)
        self._users: dict[str, SlackUser] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channels: dict[str, str] = {}
        self._response_urls: dict[str, tuple[str, str]] = {}
        self._seq = itertools.count(1)
        self.add_user(SlackUser(BOT_USER_ID, "tourniquet", "Tourniquet", is_bot=True))

    # Lifecycle

    def start(self) -> FakeSlack:
        self._server.start(_handler_class(self))
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def api_url(self) -> str:
        """The Web API base URL, with the trailing slash ``WebClient`` expects."""
        return f"{self.base_url}/api/"

    # Directory

    def add_user(self, user: SlackUser) -> None:
        with self._changed:
            self._users[user.id] = user

    def user(self, user_id: str) -> SlackUser | None:
        with self._changed:
            return self._users.get(user_id)

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        with self._changed:
            self._usergroups[group_id] = list(members)

    def channel_id(self, channel: str) -> str:
        """Slack answers with channel ids; a ``#name`` gets a stable fake id."""
        name = channel.lstrip("#")
        if name[:1] in ("C", "G", "D") and name.isupper() and name.isalnum():
            return name
        with self._changed:
            if name not in self._channels:
                self._channels[name] = f"C{zlib.crc32(name.encode()):08X}"
            return self._channels[name]

    def channel_name(self, channel_id: str) -> str:
        with self._changed:
            for name, known in self._channels.items():
                if known == channel_id:
                    return name
        return channel_id.lower()

    # Failure injection

    def fail_next(
        self, method: str, *, error: str = "ratelimited", status: int | None = None, times: int = 1
    ) -> None:
        """Fail the next ``times`` calls of ``method``.

        ``error="ratelimited"`` answers HTTP 429 with ``Retry-After``; ``status`` (e.g. 500) answers that HTTP
        status; any other error answers ``{"ok": false, "error": error}``.
        """
        if status is not None:
            failure = _Failure(error, status)
        elif error == "ratelimited":
            failure = _Failure(error, 429, {"Retry-After": "1"})
        else:
            failure = _Failure(error)
        with self._changed:
            self._failures[method].extend([failure] * times)

    def answer_slowly(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` (a message is posted) but answer each only after
        ``seconds``: a client that stops waiting sooner never learns that its call took effect."""
        with self._changed:
            self._slow[method].extend([seconds] * times)

    # What happened

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._changed:
            return [call for call in self._calls if method is None or call.method == method]

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Posted messages in their current state, oldest first (copies: safe to keep)."""
        wanted = self.channel_id(channel) if channel else None
        with self._changed:
            found = [m for m in self._messages.values() if wanted is None or m.channel == wanted]
            return [copy.deepcopy(message) for message in sorted(found, key=lambda m: float(m.ts))]

    def message(self, channel: str, ts: str) -> SlackMessage | None:
        with self._changed:
            found = self._messages.get((self.channel_id(channel), ts))
            return copy.deepcopy(found) if found else None

    def ephemeral(self) -> list[dict[str, Any]]:
        with self._changed:
            return copy.deepcopy(self._ephemeral)

    def find_card(self, needle: str) -> SlackMessage | None:
        """The latest message with buttons that mentions ``needle`` (an incident or approval id), in the
        channel (a storm's summary in a card's thread has buttons too)."""
        cards = [m for m in self.messages() if m.buttons() and not m.thread_ts and m.mentions(needle)]
        return cards[-1] if cards else None

    def find_message(self, needle: str) -> SlackMessage | None:
        """The latest message that mentions ``needle``, with or without buttons."""
        found = [m for m in self.messages() if m.mentions(needle)]
        return found[-1] if found else None

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10.0) -> T:
        """Wait until ``predicate()`` returns something truthy and return it; re-checked after every call."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = len(self._calls)
            # Evaluated without the lock, so a slow predicate never holds up the fake's own requests.
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                methods = [f"{call.method}:{call.error or 'ok'}" for call in self.calls()]
                raise TimeoutError(f"Slack condition not met within {timeout}s; calls so far: {methods}")
            with self._changed:
                if len(self._calls) == seen:
                    self._changed.wait(min(remaining, 0.25))

    def response_url(self, channel: str, ts: str) -> str:
        """A ``response_url`` for an interaction on the message ``(channel, ts)``."""
        token = secrets.token_urlsafe(12)
        with self._changed:
            self._response_urls[token] = (self.channel_id(channel), ts)
        return f"{self.base_url}/actions/{TEAM_ID}/{next(self._seq)}/{token}"

    # Request handling

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    def handle(
        self, method: str, args: dict[str, Any], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one Web API call: ``(status, headers, body)``; every call is recorded."""
        with self._changed:
            slow = self._slow.get(method)
            delay = slow.popleft() if slow else 0.0
            try:
                self._authenticate(args, authorization)
                queued = self._failures.get(method)
                if queued:
                    raise queued.popleft()
                body, record = self._dispatch(method, args)
            except _Failure as failure:
                self._record(SlackCall(method, args, False, failure.error, failure.status, **_summary(args)))
                return failure.status, failure.headers, {"ok": False, "error": failure.error}
            self._record(SlackCall(method, args, True, None, 200, **record))
        # answer_slowly: the call took effect; its answer comes late, outside the lock.
        time.sleep(delay)
        return 200, {}, body

    def handle_response_url(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._changed:
            target = self._response_urls.get(token)
            if target is None:
                self._record(SlackCall("response_url", body, False, "expired_url", 404))
                return 404, {"ok": False, "error": "expired_url"}
            channel, ts = target
            if body.get("replace_original") and (channel, ts) in self._messages:
                self._update(self._messages[(channel, ts)], body)
            self._record(
                SlackCall("response_url", body, True, None, 200, channel=channel, ts=ts, **_content(body))
            )
            return 200, {"ok": True}

    def _record(self, call: SlackCall) -> None:
        self._calls.append(call)
        self._changed.notify_all()

    def _authenticate(self, args: dict[str, Any], authorization: str | None) -> None:
        token = None
        if authorization and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        token = token or args.pop("token", None)
        if not token:
            raise _Failure("not_authed")
        if not secrets.compare_digest(str(token), self.bot_token):
            raise _Failure("invalid_auth")

    def _dispatch(self, method: str, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        handlers: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._post_ephemeral,
            "usergroups.users.list": self._usergroup_members,
            "users.info": self._users_info,
        }
        handler = handlers.get(method)
        if handler is None:
            raise _Failure("unknown_method")
        return handler(args)

    def _auth_test(self, _args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Tourniquet Sandbox",
            "user": "tourniquet",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }, {}

    def _post_message(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        channel = self._require_channel(args)
        text, blocks = _text_and_blocks(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, str(thread_ts)) not in self._messages:
            raise _Failure("thread_not_found")
        message = SlackMessage(
            channel, self._new_ts(), text, _with_ids(blocks), str(thread_ts) if thread_ts else None
        )
        self._messages[(channel, message.ts)] = message
        body = {"ok": True, "channel": channel, "ts": message.ts, "message": message.to_api()}
        return body, {
            "channel": channel,
            "ts": message.ts,
            "thread_ts": message.thread_ts,
            "text": text,
            "blocks": message.blocks,
        }

    def _chat_update(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        channel = self._require_channel(args)
        ts = str(args.get("ts") or "")
        message = self._messages.get((channel, ts))
        if message is None:
            raise _Failure("message_not_found")
        self._update(message, args)
        body = {"ok": True, "channel": channel, "ts": ts, "text": message.text, "message": message.to_api()}
        return body, {"channel": channel, "ts": ts, "text": message.text, "blocks": message.blocks}

    def _update(self, message: SlackMessage, args: Mapping[str, Any]) -> None:
        text, blocks = _text_and_blocks(args)
        message.revisions.append({"text": message.text, "blocks": message.blocks})
        message.text = text
        message.blocks = _with_ids(blocks)

    def _post_ephemeral(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        channel = self._require_channel(args)
        user = str(args.get("user") or "")
        if user not in self._users:
            raise _Failure("user_not_found")
        text, blocks = _text_and_blocks(args)
        ts = self._new_ts()
        self._ephemeral.append({"channel": channel, "user": user, "ts": ts, "text": text, "blocks": blocks})
        return {"ok": True, "message_ts": ts}, {"channel": channel, "ts": ts, "text": text, "blocks": blocks}

    def _usergroup_members(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        group = str(args.get("usergroup") or "")
        if group not in self._usergroups:
            raise _Failure("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}, {}

    def _users_info(self, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise _Failure("user_not_found")
        return {"ok": True, "user": user.to_api()}, {}

    def _require_channel(self, args: Mapping[str, Any]) -> str:
        channel = str(args.get("channel") or "")
        if not channel:
            raise _Failure("channel_not_found")
        return self.channel_id(channel)


def _text_and_blocks(args: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    text = str(args.get("text") or "")
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError as exc:
            raise _Failure("invalid_blocks_format") from exc
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        raise _Failure("invalid_blocks_format")
    if not text and not blocks:
        raise _Failure("no_text")
    return text, blocks


def _with_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slack gives every block (and every interactive element) an id when the sender did not."""
    stamped = copy.deepcopy(blocks)
    for block in stamped:
        block.setdefault("block_id", secrets.token_urlsafe(4))
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            element.setdefault("action_id", secrets.token_urlsafe(4))
    return stamped


def _content(args: Mapping[str, Any]) -> dict[str, Any]:
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            blocks = None
    return {"text": args.get("text"), "blocks": blocks if isinstance(blocks, list) else None}


def _summary(args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "channel": str(args["channel"]) if args.get("channel") else None,
        "ts": str(args["ts"]) if args.get("ts") else None,
        "thread_ts": str(args["thread_ts"]) if args.get("thread_ts") else None,
        **_content(args),
    }


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "application/json" in content_type:
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {}
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


def _handler_class(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                args = dict(parse_qsl(url.query, keep_blank_values=True))
                args.update(_parse_body(self.headers.get("Content-Type", ""), raw))
            except (ValueError, UnicodeDecodeError):
                self._reply(400, {}, {"ok": False, "error": "invalid_json"})
                return
            parts = url.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "api":
                status, headers, body = fake.handle(parts[1], args, self.headers.get("Authorization"))
                # A client that stopped waiting for a slow answer is gone.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._reply(status, headers, body)
            elif len(parts) == 4 and parts[0] == "actions" and self.command == "POST":
                status, body = fake.handle_response_url(parts[3], args)
                self._reply(status, {}, body)
            else:
                self._reply(404, {}, {"ok": False, "error": "unknown_method"})

        def _reply(self, status: int, headers: Mapping[str, str], body: Mapping[str, Any]) -> None:
            if status >= 500:
                payload = b"<html><body>Internal Server Error</body></html>"
                content_type = "text/html"
            else:
                payload = json.dumps(body).encode()
                content_type = "application/json; charset=utf-8"
            reply(self, status, payload, content_type, headers)

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are recorded as calls; nothing goes to stderr."""

    return Handler
