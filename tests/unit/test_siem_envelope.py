"""The SIEM feed's two bodies: Tourniquet's envelope, whose published schema (docs/siem-envelope-schema.json)
is generated from the model and never edited by hand, and an OCSF Detection Finding that py-ocsf-models
validates. Regenerate the schema: ``TOURNIQUET_WRITE_SCHEMA=1 pytest tests/unit/test_siem_envelope.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from tests.helpers import load_event
from tourniquet.feed import ocsf, siem
from tourniquet.feed.envelope import ENVELOPE_VERSION, Envelope, build
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet.state import ApprovalResult, Outcome, OutcomeAction
from tourniquet.triage import score

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "siem-envelope-schema.json"
AT = "2026-11-20T09:20:00.000Z"


def _generated() -> str:
    return json.dumps(Envelope.model_json_schema(mode="serialization"), indent=2, ensure_ascii=False) + "\n"


def _incident(name: str = "guardduty_ec2_finding", *, triaged: bool = True) -> dict[str, Any]:
    alert = normalize(load_event(name))
    assert isinstance(alert, Alert)
    incident: dict[str, Any] = {
        "incident_id": "inc-0123456789ab",
        "status": "open",
        "alert": alert.model_dump(mode="json"),
    }
    if triaged:
        verdict = score.verdict(alert, (), make_plan(alert, (), Settings()))
        incident["verdict"] = verdict.as_state()
    return incident


def _closed() -> Envelope:
    outcome = Outcome(
        status="contained",
        approval=ApprovalResult(decision="approve", by="U0APPROVER", at=AT),
        actions=(OutcomeAction(name="isolate_network", mode="auto", status="done", verified=True),),
    )
    return build(
        {**_incident(), "status": "contained"}, "closed", AT, decision=outcome.approval, outcome=outcome
    )


def test_published_schema_matches_the_model():
    if os.environ.get("TOURNIQUET_WRITE_SCHEMA") == "1":
        SCHEMA.write_text(_generated())

    assert SCHEMA.read_text() == _generated(), (
        "docs/siem-envelope-schema.json is stale; regenerate it: "
        "TOURNIQUET_WRITE_SCHEMA=1 pytest tests/unit/test_siem_envelope.py"
    )


def test_published_schema_is_versioned():
    schema = json.loads(SCHEMA.read_text())

    assert schema["properties"]["schema_version"]["const"] == ENVELOPE_VERSION
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_envelope_id_is_stable_per_incident_and_change():
    assert build(_incident(), "opened", AT).id == build(_incident(), "opened", "2027-01-01T00:00:00Z").id
    assert build(_incident(), "opened", AT).id != build(_incident(), "closed", AT).id


@pytest.mark.parametrize("triaged", [True, False])
def test_the_attributes_route_without_parsing(triaged: bool):
    envelope = build(_incident(triaged=triaged), "opened", AT)

    attributes = siem.attributes(envelope)

    assert attributes["incident_id"] == {"DataType": "String", "StringValue": "inc-0123456789ab"}
    assert attributes["finding_id"]["StringValue"] == "92cc3f3c6d1f4a6bb51a7c3f1e0a1b2c"
    assert attributes["severity"]["StringValue"] == "HIGH"
    if triaged:
        assert attributes["risk_score"]["DataType"] == "Number"
        assert int(attributes["risk_score"]["StringValue"]) == envelope.verdict.risk_score  # type: ignore[union-attr]
    else:
        assert "risk_score" not in attributes


def test_the_tourniquet_body_round_trips_through_the_model():
    envelope = _closed()

    body = siem.body(envelope, Settings(SIEM_FORMAT="tourniquet"))

    assert Envelope.model_validate_json(body) == envelope


@pytest.mark.parametrize("change", ["opened", "decided", "closed", "failed", "resolved", "released"])
def test_the_ocsf_body_is_a_valid_detection_finding(change: str):
    envelope = build(_incident("guardduty_attack_sequence"), change, AT)  # type: ignore[arg-type]

    body = siem.body(envelope, Settings(SIEM_FORMAT="ocsf"))

    finding = DetectionFinding.model_validate_json(body)
    assert finding.class_uid == 2004
    assert finding.finding_info.uid == envelope.incident_id
    assert finding.metadata.uid == envelope.id
    assert finding.risk_score == envelope.verdict.risk_score  # type: ignore[union-attr]
    tactics = {a.tactic.uid for a in finding.finding_info.attacks if a.tactic}
    assert tactics == {"TA0006", "TA0005", "TA0010"}
    assert finding.unmapped["tourniquet"]["change"] == change


def test_the_ocsf_body_of_a_closed_incident_carries_its_outcome():
    finding = ocsf.detection_finding(_closed())

    assert finding.status_id == 4  # Resolved
    assert finding.activity_id == 3  # Close
    assert finding.unmapped["tourniquet"]["outcome"]["status"] == "contained"
