"""The deployed HTTP API, served locally: each request becomes an API Gateway event for the route's function.

The routes come from the synthesized template (``AWS::ApiGatewayV2::Route`` and its Lambda integration), so
``POST /slack/interactions`` reaches the function the real API would invoke. The function is invoked through
moto's Lambda API, so the in-process hook runs the real handler with that function's own environment, and
the handler's ``statusCode``/``headers``/``body`` go back to the HTTP client as API Gateway would send them.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.deploy import Deployment, HttpRoute
from sandbox.loopback import LoopbackServer

INTERACTIONS_PATH = "/slack/interactions"
INTERACTIONS_HANDLER = "tourniquet.approval.callback.slack_interaction"
API_ID = "sandboxapi"
# Bodies API Gateway passes as text; anything else (form posts included) arrives base64-encoded.
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True)
class HttpExchange:
    """One request the endpoint served: where it went and what came back."""

    method: str
    path: str
    route_key: str | None
    function_name: str | None
    status: int
    function_error: str | None


def _is_text(headers: list[tuple[str, str]]) -> bool:
    content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
    return content_type.lower().startswith(_TEXT_TYPES)


def _body_fields(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {"isBase64Encoded": False}
    if _is_text(request.headers):
        return {"body": request.body.decode("utf-8", errors="replace"), "isBase64Encoded": False}
    return {"body": base64.b64encode(request.body).decode(), "isBase64Encoded": True}


def http_api_event_v2(
    request: HttpRequest, route: HttpRoute, path_parameters: Mapping[str, str], *, account_id: str, host: str
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": secrets.token_urlsafe(12),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        **_body_fields(request),
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


def http_api_event_v1(
    request: HttpRequest, route: HttpRoute, path_parameters: Mapping[str, str], *, account_id: str, host: str
) -> dict[str, Any]:
    """An API Gateway proxy event, payload format 1.0."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    now = time.time()
    return {
        "version": "1.0",
        "resource": route.path or request.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "httpMethod": request.method,
            "identity": {"sourceIp": request.source_ip, "userAgent": headers.get("User-Agent", "")},
            "path": request.path,
            "protocol": "HTTP/1.1",
            "requestId": secrets.token_urlsafe(12),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourcePath": route.path or request.path,
            "stage": "$default",
        },
        **_body_fields(request),
    }


def api_response(payload: Any, payload_version: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway sends back for a function's result."""
    if isinstance(payload, dict) and "statusCode" in payload:
        headers = [(str(k), str(v)) for k, v in (payload.get("headers") or {}).items()]
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), str(value)) for value in values)
        headers.extend(("Set-Cookie", str(cookie)) for cookie in payload.get("cookies") or [])
        body = payload.get("body") or ""
        raw = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
        return int(payload["statusCode"]), headers, raw
    if payload_version == "2.0":
        # HTTP APIs infer a 200 JSON response from a result without a status code.
        return 200, [("Content-Type", "application/json")], json.dumps(payload).encode()
    return 502, [("Content-Type", "application/json")], b'{"message":"Internal server error"}'


class LocalHttpApi:
    """The template's HTTP API routes on 127.0.0.1; ``url(INTERACTIONS_PATH)`` is the Slack request URL."""

    def __init__(self, deployment: Deployment, lambda_client: Any, *, host: str = "127.0.0.1") -> None:
        self.deployment = deployment
        self.routes = list(deployment.routes)
        if not any(route.match("POST", INTERACTIONS_PATH) is not None for route in self.routes):
            # A template without an HTTP API still gets the interactions route to its approval function.
            handlers = deployment.function_names_by_handler
            if INTERACTIONS_HANDLER in handlers:
                self.routes.append(HttpRoute(f"POST {INTERACTIONS_PATH}", handlers[INTERACTIONS_HANDLER]))
        self._lambda = lambda_client
        self._server = LoopbackServer("local-http-api", host)
        self._lock = threading.Lock()
        self._exchanges: list[HttpExchange] = []

    def start(self) -> LocalHttpApi:
        self._server.start(_handler_class(self))
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def url(self, path: str = INTERACTIONS_PATH) -> str:
        return f"{self.base_url}{path}"

    def exchanges(self) -> list[HttpExchange]:
        with self._lock:
            return list(self._exchanges)

    def route(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        best: tuple[HttpRoute, dict[str, str]] | None = None
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None and (best is None or route.specificity > best[0].specificity):
                best = (route, parameters)
        return best

    def serve(self, request: HttpRequest, host: str) -> tuple[int, list[tuple[str, str]], bytes]:
        found = self.route(request.method, request.path)
        if found is None:
            self._note(HttpExchange(request.method, request.path, None, None, 404, None))
            return 404, [("Content-Type", "application/json")], b'{"message":"Not Found"}'
        route, parameters = found
        build = http_api_event_v2 if route.payload_version == "2.0" else http_api_event_v1
        event = build(request, route, parameters, account_id=self.deployment.account_id, host=host)
        response = self._lambda.invoke(FunctionName=route.function_name, Payload=json.dumps(event).encode())
        function_error = response.get("FunctionError")
        payload = json.loads(response["Payload"].read() or b"null")
        if function_error:
            status, headers, body = (
                500,
                [("Content-Type", "application/json")],
                b'{"message":"Internal Server Error"}',
            )
        else:
            status, headers, body = api_response(payload, route.payload_version)
        self._note(
            HttpExchange(
                request.method, request.path, route.route_key, route.function_name, status, function_error
            )
        )
        return status, headers, body

    def _note(self, exchange: HttpExchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)


def _handler_class(api: LocalHttpApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = HttpRequest(
                method=self.command,
                path=url.path,
                query=url.query,
                headers=list(self.headers.items()),
                body=self.rfile.read(length) if length else b"",
                source_ip=self.client_address[0],
            )
            status, headers, body = api.serve(request, self.headers.get("Host", "127.0.0.1"))
            self.send_response(status)
            for name, value in headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are recorded as exchanges; nothing goes to stderr."""

    return Handler
