"""Ten thousand hostile bodies per webhook source: every answer is a 2xx or a 4xx, and a 4xx starts nothing.

The bodies are the real Grafana and Alertmanager payloads of ``tests/events`` with mutated fields (lone
surrogates, huge and non-finite numbers, wrong types, deep nesting, missing and extra keys), multiplied
alerts, whole bodies of another shape, and bytes that are not UTF-8, sent as text or base64, authenticated
by the bearer token or a body signature. The handler runs in process, no moto: the secret read is stubbed,
the settings are read once, and Step Functions refuses an input as AWS does (not JSON, NaN or Infinity, over
256 KiB) and counts the executions started. The figures (bodies tried, executions started, answers by
status code) print with ``pytest -s tests/handlers/test_webhook_fuzz.py``.

Each body is read off one random number (see :class:`Recipe`); 0 is the unchanged fixture. A failure names
its number, and ``body(number)`` rebuilds that body. The run's seed varies unless ``FUZZ_SEED`` fixes it.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import load_event
from tourniquet.intake import auth, executions, webhook
from tourniquet.intake.settings import IntakeSettings
from tourniquet.intake.webhook import handle
from tourniquet.logs import logger

pytestmark = pytest.mark.long

TOKEN = "whk_" + "f" * 40
HMAC_KEY = "hmac-" + "z" * 40
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:tourniquet-incident-response"
CONTEXT = SimpleNamespace(
    function_name="tourniquet-webhook",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-webhook",
    aws_request_id="00000000-0000-0000-0000-00000000f022",
)
FIXTURES = [
    "grafana_unified_firing",
    "grafana_unified_resolved",
    "grafana_legacy_alerting",
    "grafana_legacy_ok",
    "grafana_test_notification",
    "alertmanager_v4_firing",
    "alertmanager_v4_resolved",
    "alertmanager_messy",
]
BASES = {name: load_event(name) for name in FIXTURES}
EXAMPLES = 10_000


class FakeStepFunctions:
    """``executions.start_all`` with StartExecution answered as AWS answers it: the same execution names and
    inputs, refused when AWS would refuse them (not JSON, NaN or Infinity, over 256 KiB, a bad name), and
    every execution started counted. One at a time: the thread pool's own cost is not what is tested here."""

    _NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")

    def __init__(self) -> None:
        self.started: list[str] = []

    def start_all(
        self, state_machine_arn: str, prefix: str, delivery: str, items: list[tuple[str, dict[str, Any]]]
    ) -> list[executions.Started]:
        return [self._start(state_machine_arn, prefix, delivery, path, event) for path, event in items]

    def _start(self, machine: str, prefix: str, delivery: str, path: str, event: dict[str, Any]) -> Any:
        name = executions.execution_name(prefix, delivery, path, event)
        data = executions.encoded(event).encode()  # botocore cannot send text that is not Unicode either
        if len(data) > executions.MAX_INPUT_BYTES:
            raise _refused("InvalidExecutionInput", "Input exceeds the maximum size")
        try:
            json.loads(data, parse_constant=_not_json)
        except ValueError as exc:
            raise _refused("InvalidExecutionInput", "Invalid State Machine Execution Input") from exc
        if not self._NAME.fullmatch(name):
            raise _refused("InvalidName", "Invalid Name")
        self.started.append(name)
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
        return executions.Started(path, arn, already_running=False)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _refused(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StartExecution")


# Values a sender can put anywhere. Literals json.dumps cannot write (NaN spelled otherwise, nesting deeper
# than its own recursion allows, integers over Python's digit limit) travel as markers replaced afterwards.

LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e999",
    "1E+308",
    "-0",
    "9" * 5000,
    "0." + "0" * 400 + "1",
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\ud83d\\ude00"',
]
_MARKER = re.compile(r'"\\u0000(\d+)\\u0000"')


def marker(index: int) -> str:
    return f"\x00{index}\x00"


def nested(depth: int) -> str:
    return marker(len(LITERALS) + depth)


def _expand(match: re.Match[str]) -> str:
    index = int(match.group(1))
    if index < len(LITERALS):
        return LITERALS[index]
    depth = index - len(LITERALS)
    return "[" * depth + "]" * depth


# Values a sender can put anywhere, beside generated text and numbers (see ``value``).
POOL: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    -(2**63),
    10**400,
    -(10**309),
    10**4000,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    "",
    " ",
    "firing",
    "resolved",
    "alerting",
    "ok",
    "no_data",
    "pending",
    "paused",
    "critical",
    "warning",
    "TestAlert",
    "Grafana",
    "true",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "2024-02-30T25:61:61+99:99",
    "1700000000000",
    "1e400",
    "NaN",
    "9" * 400,
    "i-0123456789abcdef0",
    "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
    "123456789012",
    "eu-west-1",
    "../../etc/passwd",
    "<script>",
    "x" * 3000,
    "\ud800",
    "\udfff",
    "a\ud83d",
    "\udc00z",
    "ok\ud800ok",
    "\u0000",
    "\u202e",
    "\U0001f525",
    {},
    [],
    {"alertname": "\ud800"},
    {"\ud800": "x"},
    {"alertname": float("nan")},
    {"alertname": None, "instance": 10**400},
    [None, "\ud800", float("inf")],
    [[[]]],
    *(marker(index) for index in range(len(LITERALS))),
    *(nested(depth) for depth in (8, 31, 32, 33, 100, 600, 990, 1500, 20_000)),
]
KINDS = ["replace", "replace", "delete", "add", "wrap"]
KEYS = ["alertname", "labels", "alerts", "status", "startsAt", "fingerprint", "\ud800", "", "truncatedAlerts"]


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value``: the keys and indexes that lead to it."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += paths(item, (*at, index))
    return found


TEXTS = {name: json.dumps(body) for name, body in BASES.items()}
PATHS = {name: paths(body) for name, body in BASES.items()}


def _parent(payload: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        payload = payload[step]
    return payload


def mutate(payload: Any, path: tuple[Any, ...], kind: str, value: Any, key: str) -> None:
    """Change ``payload`` in place at ``path``; a path a previous change removed is skipped."""
    try:
        if not path:
            if kind == "add" and isinstance(payload, dict):
                payload[key] = value
            return
        parent = _parent(payload, path)
        if kind == "replace":
            parent[path[-1]] = value
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][key] = value
        elif kind == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
    except (KeyError, IndexError, TypeError):
        pass


class Recipe:
    """Choices read off one large number, smallest digits first: 0 is always the plainest choice."""

    def __init__(self, number: int) -> None:
        self._number = number

    def pick(self, choices: int) -> int:
        self._number, choice = divmod(self._number, choices)
        return choice

    def of(self, options: list[Any]) -> Any:
        return options[self.pick(len(options))]


# Code points generated text draws from: ASCII, controls, lone surrogates, right-to-left, emoji, CJK.
_RANGES = [
    (0x20, 0x7E),
    (0x00, 0x1F),
    (0xD800, 0xDFFF),
    (0x202A, 0x202E),
    (0x1F300, 0x1F6FF),
    (0x4E00, 0x4E80),
]


def value(recipe: Recipe) -> Any:
    """A value from the pool, or generated: text of mixed scripts, an integer, a float."""
    kind = recipe.pick(4)
    if kind == 0:
        # A copy: the body's later changes must not reach the pool, nor nest a pool value in itself.
        return copy.deepcopy(recipe.of(POOL))
    if kind == 1:
        low, high = recipe.of(_RANGES)
        return "".join(chr(low + recipe.pick(high - low + 1)) for _ in range(recipe.pick(7)))
    if kind == 2:
        return recipe.pick(2**80) - 2**79
    return recipe.of([1.5, -2.25e-300, 1.7976931348623157e308, float("nan"), 3.0, 1e-320])


# Alerts in a body: most carry the fixture's own; a few sit at the cap, just over it, fill more than 256 KiB
# (with the larger fixtures), or are the thousands of small distinct alerts one body under 256 KiB could once
# start.
COPIES = [0] * 75 + [99, 100, 101, 250, 3000]
FLOOD = 1000
DAMAGE = [None] * 9 + ["cut", "byte", "bom"]
BAD_BYTES = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\x80"]


def body(number: int) -> tuple[bytes, bool, bool]:
    """A body's bytes, whether it travels base64-encoded, and whether it is signed instead of a token, read
    off ``number`` (below ``2**320``): its low 64 bits choose the fixture and the framing, the rest the
    changes."""
    recipe, changes = Recipe(number % 2**64), Recipe(number >> 64)
    name = recipe.of(FIXTURES)
    if recipe.pick(20) == 19:  # a whole body of another shape
        payload: Any = value(changes)
    else:
        payload = json.loads(TEXTS[name])
        for _ in range(changes.pick(4)):
            path, kind, key = changes.of(PATHS[name]), changes.of(KINDS), changes.of(KEYS)
            mutate(payload, path, kind, value(changes), key)
    copies = recipe.of(COPIES)
    if copies >= FLOOD and isinstance(payload, dict):
        flood = ({"alertname": "Flood", "instance": f"10.0.{n // 256}.{n % 256}"} for n in range(copies))
        payload["alerts"] = [{"labels": labels} for labels in flood]
    elif copies and isinstance(payload, dict) and isinstance(payload.get("alerts"), list):
        payload["alerts"] = ((payload["alerts"] or [{}]) * copies)[:copies]
    text = json.dumps(payload, ensure_ascii=recipe.pick(2) == 1, allow_nan=True)
    data = _MARKER.sub(_expand, text).encode("utf-8", "surrogatepass")
    damage, at = recipe.of(DAMAGE), recipe.pick(len(data) + 1)
    if damage == "cut":
        data = data[:at]
    elif damage == "byte":
        data = data[:at] + recipe.of(BAD_BYTES) + data[at:]
    elif damage == "bom":
        data = b"\xef\xbb\xbf" + data
    encoded, signed = recipe.pick(2) == 1, recipe.pick(10) == 1
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        encoded = True  # API Gateway passes bytes that are not text base64-encoded
    return data, encoded, signed


def event(source: str, data: bytes, encoded: bool, signed: bool) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if signed:
        headers[auth.SIGNATURE_HEADER] = auth.signature(data, HMAC_KEY)
    else:
        headers["authorization"] = f"Bearer {TOKEN}"
    return {
        "version": "2.0",
        "routeKey": "POST /webhook/{source}",
        "rawPath": f"/webhook/{source}",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": f"/webhook/{source}"}, "requestId": "fuzz"},
        "pathParameters": {"source": source},
        "body": base64.b64encode(data).decode() if encoded else data.decode(),
        "isBase64Encoded": encoded,
    }


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStepFunctions]:
    sfn = FakeStepFunctions()
    secret = auth.WebhookSecret.model_validate({"bearer_token": TOKEN, "hmac_secret": HMAC_KEY})
    monkeypatch.setattr(auth, "webhook_secret", lambda arn: secret)
    monkeypatch.setattr(executions, "start_all", sfn.start_all)
    # The settings as the environment gives them, read once: reading them takes longer than the handler
    # takes to answer most bodies.
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhook")
    monkeypatch.setenv("STATE_MACHINE_ARN", MACHINE)
    monkeypatch.delenv("WEBHOOK_MAX_ALERTS", raising=False)
    intake_settings = IntakeSettings()
    monkeypatch.setattr(webhook, "IntakeSettings", lambda: intake_settings)
    # Two info lines per accepted body cost a quarter of the run; warnings and errors still go out.
    level = logger.log_level
    logger.setLevel(logging.WARNING)
    try:
        yield sfn
    finally:
        logger.setLevel(level)


def numbers() -> Iterator[int]:
    seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().getrandbits(64))
    print(f"\nFUZZ_SEED={seed}")
    generator = random.Random(seed)
    yield 0
    for _ in range(EXAMPLES - 1):
        yield generator.getrandbits(320)


@pytest.mark.parametrize("source", ["grafana", "alertmanager"])
def test_ten_thousand_hostile_bodies_get_a_2xx_or_a_4xx_and_a_4xx_starts_nothing(stubbed, source):
    statuses: Counter[int] = Counter()

    for number in numbers():
        data, encoded, signed = body(number)
        before = len(stubbed.started)

        response = handle(event(source, data, encoded, signed), CONTEXT)

        status = response["statusCode"]
        statuses[status] += 1
        started = len(stubbed.started) - before
        answer = json.loads(response["body"])
        context = f"body({number}): {status} {answer}"
        assert 200 <= status < 300 or 400 <= status < 500, context
        if status >= 400:
            assert started == 0, context
            assert set(answer["error"]) >= {"code", "message", "field"}, context
        else:
            assert started == len(answer["accepted"]) > 0, context

    tried = sum(statuses.values())
    figures = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(f"{source}: {tried} bodies, {len(stubbed.started)} executions started; status codes {figures}")
    assert tried >= EXAMPLES
    assert {202, 400, 413} <= set(statuses)


# A body whose changes put a value from the pool inside itself (found with FUZZ_SEED=4692120505893311883).
_SELF_NESTING = (
    917870154674036455600017707569622090270085818030633397410086568070320649271611819487294831718551
)


def test_a_body_built_from_the_pool_never_nests_a_value_in_itself_or_changes_the_pool():
    pool = json.dumps(POOL, allow_nan=True)

    body(_SELF_NESTING)

    assert json.dumps(POOL, allow_nan=True) == pool
