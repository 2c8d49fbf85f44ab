"""ContainAutomatically / RunApprovedActions: the plan's containment actions on its target; and release."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tourniquet.containment.model import ContainRequest
from tourniquet.containment.release import ReleaseRequest
from tourniquet.containment.release import release as release_incident
from tourniquet.containment.runner import run
from tourniquet.logs import logger
from tourniquet.settings import get_settings


def contain(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    request = ContainRequest.parse(event)
    logger.set_correlation_id(request.incident_id)
    return [result.as_state() for result in run(request, get_settings())]


def release(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Returns every resource of the incident to its recorded before-state; snapshots are kept."""
    request = ReleaseRequest.parse(event)
    logger.set_correlation_id(request.incident_id)
    return release_incident(request).as_state()
