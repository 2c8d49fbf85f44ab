"""DescribeInstance / LookupCloudTrail: one read-only diagnostic about the alert's instance."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.diagnostics.checks import run
from tourniquet.diagnostics.model import DiagnoseRequest
from tourniquet.logs import logger
from tourniquet.settings import get_settings


def diagnose(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = DiagnoseRequest.parse(event)
    logger.set_correlation_id(request.incident_id)
    return run(request, get_settings()).as_state()
