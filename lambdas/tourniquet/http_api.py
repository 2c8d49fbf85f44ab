"""Requests from the HTTP API (API Gateway payload format 2.0), read through Powertools' event data class.

Every route of the deployed HTTP API uses payload format 2.0 (``stacks/``; the infrastructure tests assert
it), and the sandbox's local HTTP API builds the format each route's integration names, so it sends 2.0
too. An event in any other shape is a deployment fault, not a client's mistake: :class:`UnsupportedEvent`.

Header names are matched in any case (``APIGatewayProxyEventV2.headers``). The body is read here, not with
``decoded_body``: a signature is checked on the exact bytes that were sent, which may not be UTF-8 text,
and ``decoded_body`` returns text and skips characters outside the base64 alphabet instead of refusing them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

PAYLOAD_FORMAT = "2.0"


class UnsupportedEvent(Exception):
    """Not an HTTP API request in payload format 2.0: the integration is misconfigured."""


class MalformedBody(Exception):
    """The body is flagged base64 but is not base64."""


def proxy_event(event: Any) -> APIGatewayProxyEventV2:
    """The request, with its method at hand; raises :class:`UnsupportedEvent` for any other event."""
    if not isinstance(event, dict) or event.get("version") != PAYLOAD_FORMAT:
        raise UnsupportedEvent("expected an HTTP API event in payload format 2.0")
    request = APIGatewayProxyEventV2(event)
    try:
        method = request.http_method
    except (KeyError, TypeError) as exc:
        raise UnsupportedEvent("the event has no requestContext.http.method") from exc
    if not isinstance(method, str):
        raise UnsupportedEvent("the event's requestContext.http.method is not text")
    return request


def request_id(request: APIGatewayProxyEventV2) -> str | None:
    try:
        found = request.request_context.request_id
    except (KeyError, TypeError):
        return None
    return found if isinstance(found, str) and found else None


def raw_body(request: APIGatewayProxyEventV2) -> bytes:
    """The body's bytes exactly as sent; raises :class:`MalformedBody` for a base64 body that is not one."""
    body = request.body or ""
    if not isinstance(body, str):
        raise MalformedBody("the body is not a string")
    if not request.is_base64_encoded:
        # API Gateway passes text bodies as valid UTF-8; surrogatepass keeps any stray code point as it is,
        # for the caller to refuse, instead of raising here.
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedBody("the body is not valid base64") from exc
