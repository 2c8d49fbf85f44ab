"""A request to the Slack interactions endpoint, read as far as it can be without the signing secret.

Nothing here reads the body: it is data until its signature is checked (``interaction.verify_signature``).
This module loads fast on purpose (the standard library and the HTTP API event only): the endpoint refuses a
request that is no Slack request with it alone (see ``callback``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tourniquet import http_api
from tourniquet.logs import logger

TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"
# A click carries the whole message (the card, URL-encoded): tens of kilobytes at most, never megabytes.
MAX_BODY_BYTES = 1024 * 1024
# Slack's headers: epoch seconds (ASCII digits only; int() would also take spaces, signs, underscores and
# other scripts' digits) and the v0 HMAC-SHA256 in lower-case hex.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any] | None = None

    def as_api_gateway(self) -> dict[str, Any]:
        """The Lambda proxy response the HTTP API turns into the HTTP answer."""
        if self.body is None:
            return {"statusCode": self.status, "headers": {}, "body": ""}
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(self.body),
        }


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def refused(exc: BadRequest) -> HttpResponse:
    """The answer to a request refused as ``exc`` says, logged with its reason."""
    logger.warning("slack request rejected", extra={"status": exc.status, "reason": str(exc)})
    return HttpResponse(exc.status, {"error": str(exc)})


def misconfigured(exc: http_api.UnsupportedEvent) -> HttpResponse:
    logger.error("slack interactions integration misconfigured", extra={"problem": str(exc)})
    return HttpResponse(503, {"error": "temporarily unavailable"})


@dataclass(frozen=True)
class Request:
    """The exact bytes Slack signed, and the headers by name in any case."""

    body: bytes
    headers: Mapping[str, str]

    def signature_headers(self) -> tuple[str, str]:
        """The timestamp and signature headers, if both have Slack's own format (epoch seconds in digits,
        ``v0=`` and 64 hex digits); otherwise :class:`BadRequest` (401)."""
        timestamp = self.headers.get(TIMESTAMP_HEADER)
        signature = self.headers.get(SIGNATURE_HEADER)
        if not isinstance(timestamp, str) or not isinstance(signature, str) or not timestamp or not signature:
            raise BadRequest(401, "missing signature headers")
        if _TIMESTAMP.fullmatch(timestamp) is None or _SIGNATURE.fullmatch(signature) is None:
            raise BadRequest(401, "malformed signature headers")
        return timestamp, signature


def read_request(event: Mapping[str, Any]) -> Request:
    """The request of an HTTP API event (payload format 2.0, see :mod:`tourniquet.http_api`).

    Raises :class:`~tourniquet.http_api.UnsupportedEvent` for any other event.
    """
    http = http_api.proxy_event(event)
    try:
        raw = http_api.raw_body(http)
    except http_api.MalformedBody as exc:
        raise BadRequest(400, "malformed body") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, "body too large")
    return Request(body=raw, headers=http.headers)
