"""Triage: the verdict on an incident, after its plan and before anything is contained.

The deterministic verdict always; the model's raise when one is configured. The verdict is stored on the
incident and the incident's opening is announced (SIEM, Security Hub).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from tourniquet import store
from tourniquet.feed.announce import announce
from tourniquet.intake.model import Alert
from tourniquet.logs import logger
from tourniquet.settings import get_settings
from tourniquet.state import Diagnostic, IncidentRef, Plan, Verdict
from tourniquet.triage import model, score


class TriageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    incident: IncidentRef
    alert: Alert
    diagnostics: tuple[Diagnostic, ...] = ()
    plan: Plan


def decide_verdict(request: TriageRequest) -> Verdict:
    settings = get_settings()
    verdict = score.verdict(request.alert, request.diagnostics, request.plan)
    if settings.triage_model_id:
        verdict = model.raise_with_model(
            verdict,
            request.alert,
            request.diagnostics,
            settings.triage_model_id,
            settings.triage_model_timeout_seconds,
        )
    return verdict


@logger.inject_lambda_context(clear_state=True)
def triage(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = TriageRequest.model_validate(event)
    incident_id = request.incident.id
    logger.append_keys(incident_id=incident_id)
    verdict = decide_verdict(request)
    store.update_incident(incident_id, verdict=verdict.as_state(), risk_score=verdict.risk_score)
    store.append_event(
        incident_id,
        "triage",
        risk_score=verdict.risk_score,
        severity=verdict.severity.value,
        analyst_action_required=verdict.analyst_action_required,
        reasons=[f"{r.points:+d} {r.reason}" for r in verdict.reasons],
        model=verdict.model.as_state() if verdict.model else None,
    )
    announce(incident_id, "opened")
    logger.info(
        "Triaged",
        extra={
            "risk_score": verdict.risk_score,
            "analyst_action_required": verdict.analyst_action_required,
            "model": verdict.model.status if verdict.model else None,
        },
    )
    return verdict.as_state()
