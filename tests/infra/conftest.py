"""Infrastructure tests read the template synthesized in process, once per session (a synth takes seconds)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.synth import synthesize_template
from stacks.tourniquet_stack import ASL_PATH
from tests.infra.cfn import Template

EXISTING_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:security-pager"

# A configuration that differs from cdk.json in every value the template reflects.
VARIANT = {
    "tourniquet": {
        "slack_channel": "C0123ABCDEF",
        "approvers": ["U0AAAAAAA", "U0BBBBBBB"],
        "guardduty_min_severity": 7,
        "dedup_window_minutes": 15,
        "approval_timeout_seconds": 900,
        "protected_tag_key": "team:do-not-touch",
        "dry_run": True,
        "escalation_topic_arn": EXISTING_TOPIC_ARN,
        "table_deletion_protection": False,
    }
}


@pytest.fixture(scope="session")
def template() -> Template:
    """The stack as configured by cdk.json."""
    return synthesize_template()


@pytest.fixture(scope="session")
def variant_template() -> Template:
    """The stack as configured by :data:`VARIANT`."""
    return synthesize_template(VARIANT)


@pytest.fixture(scope="session")
def asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(ASL_PATH.read_text())
    return definition
