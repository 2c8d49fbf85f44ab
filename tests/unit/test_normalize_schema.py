"""docs/alert-schema.json is the published schema of the normalized alert: generated from the model, never
edited by hand. Regenerate: ``TOURNIQUET_WRITE_SCHEMA=1 pytest tests/unit/test_normalize_schema.py``."""

import json
import os
from pathlib import Path

from tests.helpers import load_event
from tourniquet.intake.model import SCHEMA_VERSION, Alert
from tourniquet.intake.normalize import normalize_all

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "alert-schema.json"


def _generated() -> str:
    return json.dumps(Alert.model_json_schema(mode="serialization"), indent=2, ensure_ascii=False) + "\n"


def test_published_schema_matches_the_model():
    if os.environ.get("TOURNIQUET_WRITE_SCHEMA") == "1":
        SCHEMA.write_text(_generated())

    assert SCHEMA.read_text() == _generated(), (
        "docs/alert-schema.json is stale; regenerate it: "
        "TOURNIQUET_WRITE_SCHEMA=1 pytest tests/unit/test_normalize_schema.py"
    )


def test_published_schema_is_versioned():
    schema = json.loads(SCHEMA.read_text())

    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_alert_from_the_fixtures_round_trips_through_json():
    alerts = [
        outcome
        for name in ("guardduty_attack_sequence", "securityhub_custom_action", "grafana_unified_firing")
        for outcome in normalize_all(load_event(name))
        if isinstance(outcome, Alert)
    ]

    for alert in alerts:
        assert Alert.model_validate_json(alert.model_dump_json()) == alert
