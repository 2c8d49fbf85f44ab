"""POST /slack/interactions: Slack's clicks, answered within the 3 s Slack waits, a cold start included.

The module loads what every request needs: the request and its signature headers (``slack_request``). What
answers a click (the signature checked against the signing secret, the Slack payload's model, approvals and
decisions, Slack's Web client: ``interaction``) loads with the first request whose headers have Slack's
format, so a request that is no Slack request is refused before any of it loads, and a container starts in
about the time of ``import boto3`` (``python -m benchmarks.approval_callback``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet import http_api
from tourniquet.approval.slack_request import BadRequest, misconfigured, read_request, refused
from tourniquet.logs import logger


@logger.inject_lambda_context(clear_state=True)
def slack_interaction(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = read_request(event)
        request.signature_headers()
    except BadRequest as exc:
        return refused(exc).as_api_gateway()
    except http_api.UnsupportedEvent as exc:
        return misconfigured(exc).as_api_gateway()
    from tourniquet.approval import interaction  # noqa: PLC0415 - the module's docstring says why

    return interaction.handle(request).as_api_gateway()
