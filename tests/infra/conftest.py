"""Infrastructure tests read templates synthesized in process, once per session, with cdk-nag's AwsSolutions
checks attached: the default configuration (cdk.json) and two small variants. Each synthesis holds every
stack of the app: ``template`` fixtures are the hub's, ``member_template`` fixtures the member stack's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from stacks.synth import Synthesis, synthesize
from stacks.workflows import ASL_PATH
from tests.infra.cfn import Template

EXISTING_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:security-pager"

# A configuration that differs from cdk.json in every value the template reflects.
VARIANT = {
    "tourniquet": {
        "slack_channel": "C0123ABCDEF",
        "approvers": ["U0AAAAAAA", "U0BBBBBBB"],
        "approver_groups": ["S0SECOPS"],
        "two_person_actions": ["stop_instance"],
        "slack_team_id": "T0123ABCD",
        "slack_app_id": "A0123ABCD",
        "guardduty_min_severity": 7,
        "securityhub_product_names": ["Macie", "Security Hub"],
        "securityhub_min_severity": "CRITICAL",
        "cloudwatch_alarm_prefixes": ["prod-sec-", "pager-"],
        "dedup_window_minutes": 15,
        "approval_timeout_seconds": 900,
        "protected_tag_key": "team:do-not-touch",
        "dry_run": True,
        "escalation_topic_arn": EXISTING_TOPIC_ARN,
        "table_deletion_protection": False,
        "reserved_concurrency": True,
        "retention_days": 30,
        "webhook_max_alerts": 250,
    }
}

# Only the GuardDuty trigger: the optional rules are off.
MINIMAL = {"tourniquet": {"securityhub_product_names": [], "cloudwatch_alarm_prefixes": []}}


def _synthesize(overrides: dict[str, Any] | None) -> Synthesis:
    return synthesize(overrides, plugins=[AwsSolutionsChecks])


@pytest.fixture(scope="session")
def synthesis() -> Synthesis:
    """The stack as configured by cdk.json."""
    return _synthesize(None)


@pytest.fixture(scope="session")
def variant_synthesis() -> Synthesis:
    """The stack as configured by :data:`VARIANT`."""
    return _synthesize(VARIANT)


@pytest.fixture(scope="session")
def minimal_synthesis() -> Synthesis:
    """The stack as configured by :data:`MINIMAL`."""
    return _synthesize(MINIMAL)


@pytest.fixture(scope="session")
def template(synthesis: Synthesis) -> Template:
    return synthesis.template


@pytest.fixture(scope="session")
def variant_template(variant_synthesis: Synthesis) -> Template:
    return variant_synthesis.template


@pytest.fixture(scope="session")
def minimal_template(minimal_synthesis: Synthesis) -> Template:
    return minimal_synthesis.template


@pytest.fixture(scope="session")
def member_template(synthesis: Synthesis) -> Template:
    return synthesis.member_template


@pytest.fixture(scope="session")
def variant_member_template(variant_synthesis: Synthesis) -> Template:
    return variant_synthesis.member_template


@pytest.fixture(scope="session")
def asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(ASL_PATH.read_text())
    return definition
