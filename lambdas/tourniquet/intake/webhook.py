"""``POST /webhook/{source}`` (API Gateway HTTP API, payload format 2.0, see :mod:`tourniquet.http_api`):
Grafana and Alertmanager alerts in, one workflow execution per alert out.

Authenticated by a bearer token or a body signature (see :mod:`tourniquet.intake.auth`). Every mistake of
the sender gets a 4xx with ``{"error": {"code", "message", "field"}}`` and starts nothing: 401
unauthenticated, 413 a body over 256 KiB or more alerts than ``WEBHOOK_MAX_ALERTS`` (counted before anything
in the body is read; the error also carries the ``limit``), 400 bad JSON or an unknown format, 404 an
unknown source. JSON that parses but that later steps could not carry is bad JSON too: text with lone
UTF-16 surrogates, nesting deeper than :data:`MAX_DEPTH`, and NaN, Infinity or numbers beyond a double (Step
Functions refuses the first two in an execution input). A batch with unusable alerts starts the good ones
and reports the rest (207). Only a fault on this side (the secret, the settings or the workflow out of
reach) is a 503, which Grafana and Alertmanager retry; a retry loses nothing, and its duplicates fold into
incidents.
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from tourniquet import http_api
from tourniquet.errors import InvalidAlert, Throttled
from tourniquet.intake import auth, executions
from tourniquet.intake.alertmanager import WebhookSource
from tourniquet.intake.common import Outcome, Part, join, number, obj
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize_part, webhook_alert_count, webhook_parts
from tourniquet.intake.settings import IntakeSettings
from tourniquet.logs import logger
from tourniquet.secrets import SecretUnreadable
from tourniquet.state import Ignored

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
"""Objects and arrays nested deeper than this are refused; real payloads nest four or five levels."""
SOURCES: tuple[WebhookSource, ...] = ("grafana", "alertmanager")


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def as_http(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json", **self.headers},
            "body": json.dumps(self.body),
        }


def error(status: int, code: str, message: str, field_name: str | None = None, **extra: Any) -> Response:
    headers = {"www-authenticate": 'Bearer realm="tourniquet"'} if status == 401 else {}
    return Response(
        status, {"error": {"code": code, "message": message, "field": field_name}, **extra}, headers
    )


@dataclass(frozen=True)
class Request:
    method: str
    source: str
    headers: Mapping[str, str]
    """By name in any case."""
    body: bytes
    request_id: str


@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process(event).as_http()


def process(event: Any) -> Response:
    request = _request(event)
    if isinstance(request, Response):
        return request
    logger.append_keys(webhook_source=request.source, request_id=request.request_id)
    try:
        settings = IntakeSettings()
    except ValidationError as exc:
        names = sorted({str(problem["loc"][0]) for problem in exc.errors() if problem["loc"]})
        logger.error("Webhook settings unusable", extra={"settings": names})
        return error(503, "unavailable", "the webhook is not configured; try again later")
    refusal = _refusal(request) or _unauthenticated(request, settings)
    if refusal is not None:
        return refusal
    if request.source not in SOURCES:
        return error(404, "unknown_source", f"the source must be one of {', '.join(SOURCES)}", "source")
    source: WebhookSource = "grafana" if request.source == "grafana" else "alertmanager"
    return _accept(source, request, settings)


def _refusal(request: Request) -> Response | None:
    if request.method != "POST":
        return error(405, "method_not_allowed", "only POST is accepted", "method")
    if len(request.body) > MAX_BODY_BYTES:
        return error(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes", "body")
    return None


def _unauthenticated(request: Request, settings: IntakeSettings) -> Response | None:
    if not settings.webhook_secret_arn or not settings.state_machine_arn:
        logger.error("Webhook not configured: WEBHOOK_SECRET_ARN and STATE_MACHINE_ARN are required")
        return error(503, "unavailable", "the webhook is not configured; try again later")
    try:
        secret = auth.webhook_secret(settings.webhook_secret_arn)
    except SecretUnreadable as exc:  # a fault on this side, not the sender's
        logger.error("Webhook secret unavailable", extra={"problem": str(exc)})
        return error(503, "unavailable", "requests cannot be authenticated right now; try again later")
    if not auth.authenticated(request.headers, request.body, secret):
        logger.warning("Webhook request not authenticated")
        return error(401, "unauthorized", "a valid bearer token or X-Tourniquet-Signature is required")
    return None


def _request(event: Any) -> Request | Response:
    try:
        http = http_api.proxy_event(event)
    except http_api.UnsupportedEvent as exc:
        logger.error("Webhook integration misconfigured", extra={"problem": str(exc)})
        return error(503, "unavailable", "the webhook is not configured; try again later")
    try:
        body = http_api.raw_body(http)
    except http_api.MalformedBody:
        return error(400, "invalid_body", "the body is not valid base64", "body")
    return Request(
        method=http.http_method.upper(),
        source=str(http.path_parameters.get("source") or ""),
        headers=http.headers,
        body=body,
        request_id=http_api.request_id(http) or uuid.uuid4().hex,
    )


def _alerts(source: WebhookSource, payload: Any, settings: IntakeSettings) -> list[Part] | Response:
    """The body's alerts, or the 4xx that refuses the whole body."""
    # Counted before anything is read through: a flood costs its parsing and no more.
    count, limit = webhook_alert_count(payload), settings.webhook_max_alerts
    if count > limit:
        logger.warning("Webhook request over the alert cap", extra={"alerts": count, "limit": limit})
        return _too_many(count, limit)
    problem = unusable(payload)
    if problem is not None:
        return problem
    try:
        return webhook_parts(source, payload)
    except InvalidAlert as exc:
        code = "unknown_format" if exc.field in ("body", "alerts") else "invalid_alert"
        return error(400, code, str(exc), exc.field)


def _accept(source: WebhookSource, request: Request, settings: IntakeSettings) -> Response:
    payload = _json(request.body)
    if isinstance(payload, Response):
        return payload
    found = _alerts(source, payload, settings)
    if isinstance(found, Response):
        return found

    good: list[tuple[int, Part, Outcome]] = []
    rejected: list[dict[str, Any]] = []
    for index, part in enumerate(found):
        try:
            outcome = normalize_part(part)
        except InvalidAlert as exc:
            problem = {"code": "invalid_alert", "message": str(exc), "field": exc.field}
            rejected.append({"index": index, "path": part.path, "error": problem})
            continue
        if not executions.fits(part.event):
            message = f"the alert is over {executions.MAX_INPUT_BYTES} bytes, the workflow's input limit"
            problem = {"code": "alert_too_large", "message": message, "field": part.path}
            rejected.append({"index": index, "path": part.path, "error": problem})
            continue
        good.append((index, part, outcome))
    logger.info("Webhook alerts read", extra={"alerts": len(found), "rejected": len(rejected)})
    if not good:
        first_field = rejected[0]["error"]["field"]
        return error(
            400,
            "invalid_alert",
            "no usable alert in the payload",
            first_field,
            accepted=[],
            rejected=rejected,
        )

    try:
        started = executions.start_all(
            str(settings.state_machine_arn),
            f"webhook-{source}",
            request.request_id,
            [(part.path, part.event) for _, part, _ in good],
        )
    except (Throttled, ClientError, BotoCoreError) as exc:
        logger.error("Workflow executions could not be started", extra={"error": type(exc).__name__})
        return error(503, "unavailable", "the alerts could not be handed to the workflow; try again later")

    accepted = []
    for (index, part, outcome), execution in zip(good, started, strict=True):
        entry: dict[str, Any] = {"index": index, "path": part.path, "execution_arn": execution.execution_arn}
        if isinstance(outcome, Ignored):
            entry.update(outcome="ignored", reason=outcome.reason)
        else:
            entry.update(
                outcome="alert" if isinstance(outcome, Alert) else "resolved", dedup_key=outcome.dedup_key
            )
        accepted.append(entry)
    logger.info("Webhook alerts accepted", extra={"accepted": len(accepted), "rejected": len(rejected)})
    body: dict[str, Any] = {"accepted": accepted, "rejected": rejected}
    # Alertmanager drops alerts beyond a receiver's max_alerts and says how many; the sender should know.
    truncated = number(obj(payload).get("truncatedAlerts"))
    if truncated:
        body["truncated_alerts"] = int(truncated)
    return Response(207 if rejected else 202, body)


def _too_many(count: int, limit: int) -> Response:
    message = (
        f"the body carries {count} alerts; at most {limit} are accepted per request"
        " (set the receiver's max_alerts to the same number)"
    )
    body = {"error": {"code": "too_many_alerts", "message": message, "field": "alerts", "limit": limit}}
    return Response(413, body)


def _json(body: bytes) -> Any | Response:
    """The parsed body, or the 400 that says why it could not be parsed."""
    try:
        payload = json.loads(body)
    except RecursionError:
        return _too_deep()
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        return error(400, "invalid_json", "the body is not valid JSON in UTF-8", "body")
    return payload


def _too_deep() -> Response:
    message = f"the body nests objects or arrays over {MAX_DEPTH} levels deep"
    return error(400, "nested_too_deeply", message, "body")


def unusable(payload: Any) -> Response | None:
    """The first value no later step could carry: nesting over :data:`MAX_DEPTH` (the parser takes nearly
    the interpreter's recursion limit, which anything recursive afterwards then exceeds), text with a lone
    surrogate (which no encoder accepts), or a number beyond a double (JSON has no NaN or Infinity, yet
    Python's parser reads them, and ``1e400``, as floats that AWS refuses in an execution input; an integer
    beyond a double is no safer for the parsers the execution input passes through).

    One pass without recursion over what ``json.loads`` made (dicts with text keys, lists, scalars). Where a
    value sits is kept as a chain of keys and spelled out only for the error.
    """
    if type(payload) is not dict and type(payload) is not list:
        return _scalar_problem(payload, None)
    pending: list[tuple[Any, int, _Trail]] = [(payload, 1, None)]
    while pending:
        value, depth, trail = pending.pop()
        if depth > MAX_DEPTH:
            return _too_deep()
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            if type(key) is str and not _is_text(key):
                return _not_unicode(_path(trail), "a key")
            kind = type(item)
            if kind is dict or kind is list:
                pending.append((item, depth + 1, (trail, key)))
            elif not (kind is str and item.isascii()):  # plain ASCII text, the most common value, is fine
                problem = _scalar_problem(item, (trail, key))
                if problem is not None:
                    return problem
    return None


def _scalar_problem(value: Any, trail: _Trail) -> Response | None:
    if isinstance(value, str):
        return None if _is_text(value) else _not_unicode(_path(trail), "text")
    if isinstance(value, float | int) and not isinstance(value, bool) and not _interoperable(value):
        return _invalid_number(_path(trail))
    return None


# Where a value sits: (the trail of its container, its key or index); None is the body itself.
_Trail = tuple[Any, str | int] | None


def _path(trail: _Trail) -> str:
    steps: list[str | int] = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    at = ""
    for step in reversed(steps):
        at = join(at, f"[{step}]" if isinstance(step, int) else step)
    return at or "body"


def _interoperable(value: float) -> bool:
    """A number a double holds (RFC 8259 §6): ``1e400`` parses as infinity, ``NaN`` as NaN."""
    if isinstance(value, float):
        return math.isfinite(value)
    return -sys.float_info.max <= value <= sys.float_info.max


def _invalid_number(at: str) -> Response:
    message = (
        "NaN, Infinity and numbers beyond a double's range (±1.8e308) are not interoperable JSON numbers;"
        " send a finite number"
    )
    return error(400, "invalid_number", message, at)


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _not_unicode(at: str, what: str) -> Response:
    message = f"{what} holds a lone UTF-16 surrogate (such as \\ud800): not Unicode text"
    return error(400, "invalid_unicode", message, at)
