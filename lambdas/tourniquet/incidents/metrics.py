"""Publish an incident's figures (``measures``) once, as CloudWatch metrics in the embedded metric format.

The Notify step publishes them when it has told people how the incident ended: only then are the outcome
and the time to notify known. A retried step must not count the incident twice, so the figures are first
written on the incident under a condition that they are not there yet; only the writer that wins emits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from botocore.exceptions import ClientError

from tourniquet import store
from tourniquet.incidents import measures
from tourniquet.logs import logger

NO_PLAYBOOK = "none"


def publish(incident_id: str, outcome: str, *, notified: bool) -> measures.Measures | None:
    """Emit the incident's figures, by playbook and outcome; None when they were already emitted (a retry)
    or the incident does not exist. ``notified`` says whether this step's notice reached people."""
    incident = store.get_incident(incident_id)
    if incident is None or "measured_at" in incident:
        return None
    timeline = store.timeline(incident_id)
    at = store.iso()
    figures = measures.measure(timeline, notified_at=at if notified else None)
    playbook = str(incident.get("playbook") or _planned_playbook(timeline) or NO_PLAYBOOK)
    if not _claim(incident_id, at, figures):
        return None
    metrics = EphemeralMetrics(namespace=measures.NAMESPACE, service=measures.SERVICE)
    metrics.add_dimensions(**dict(zip(measures.DIMENSIONS, (playbook, outcome), strict=True)))
    metrics.add_metric(name=measures.INCIDENTS_CLOSED, unit=MetricUnit.Count, value=1)
    for name, seconds in figures.by_name().items():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=seconds)
    metrics.flush_metrics()
    logger.info("incident measured", extra={"outcome": outcome, "playbook": playbook, **figures.by_name()})
    return figures


def _planned_playbook(timeline: list[dict[str, Any]]) -> str | None:
    """The playbook of the plan (a failed run's incident was closed without one)."""
    plans = (event.get("playbook") for event in timeline if event.get("kind") == "planned")
    return next((str(playbook) for playbook in plans if playbook), None)


def _claim(incident_id: str, at: str, figures: measures.Measures) -> bool:
    """Record the figures on the incident, unless a previous attempt did: whether this one did."""
    try:
        store.table().update_item(
            Key={"pk": store.incident_pk(incident_id), "sk": store.INCIDENT_SK},
            UpdateExpression="SET measured_at = :at, measures = :figures",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(measured_at)",
            ExpressionAttributeValues={
                ":at": at,
                ":figures": {name: Decimal(str(value)) for name, value in figures.by_name().items()},
            },
        )
    except ClientError as exc:
        if store.is_conditional_failure(exc):
            return False
        raise
    return True
