"""The playbook catalog: routing of every source, and that each playbook's data points at real things."""

import re
from pathlib import Path

import pytest

from tests.helpers import load_event
from tourniquet.containment.registry import ACTIONS
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize_all
from tourniquet.playbooks.catalog import Match, PlaybookError, catalog, load, select, snake

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK_SECTIONS = (
    "Triggers",
    "Automatic diagnostics",
    "Manual investigation",
    "Remediation",
    "Escalation matrix",
    "Post-incident checklist",
)


def _alerts(fixture: str) -> list[Alert]:
    return [outcome for outcome in normalize_all(load_event(fixture)) if isinstance(outcome, Alert)]


@pytest.mark.parametrize(
    ("fixture", "playbooks"),
    [
        ("guardduty_ec2_finding", ["guardduty-ec2-instance"]),
        ("guardduty_messy_finding", ["guardduty-ec2-instance"]),
        ("guardduty_sample_finding", ["guardduty-ec2-instance"]),
        ("securityhub_guardduty_ec2", ["guardduty-ec2-instance"]),
        ("guardduty_get_findings", ["guardduty-ec2-targeted", "guardduty-iam-access-key"]),
        ("guardduty_iam_access_key", ["guardduty-iam-access-key"]),
        ("guardduty_iam_instance_credentials", ["guardduty-iam-instance-credentials"]),
        ("guardduty_s3_bucket", ["guardduty-s3-bucket"]),
        ("guardduty_eks_cluster", ["guardduty-eks-cluster"]),
        ("guardduty_ecs_cluster", ["guardduty-ecs-cluster"]),
        ("guardduty_container", ["guardduty-container"]),
        ("guardduty_rds", ["guardduty-rds-database"]),
        ("guardduty_lambda", ["guardduty-lambda-function"]),
        ("guardduty_attack_sequence", ["guardduty-attack-sequence"]),
        ("securityhub_custom_action", ["securityhub-finding", "guardduty-iam-access-key"]),
        ("securityhub_control_failed", ["securityhub-finding"]),
        ("securityhub_get_findings", ["securityhub-finding", "guardduty-iam-access-key"]),
        ("cloudwatch_alarm_state_change", ["infrastructure-failure"]),
        ("cloudwatch_composite_alarm", ["infrastructure-failure"]),
        ("cloudwatch_alarm_sns", ["api-rate-spike"]),
        ("cloudwatch_alarm_lambda_action", ["api-rate-spike"]),
        ("grafana_unified_firing", ["infrastructure-failure", "infrastructure-failure"]),
        ("grafana_legacy_alerting", ["infrastructure-failure"]),
        ("grafana_test_notification", ["alert-only"]),
        ("alertmanager_v4_firing", ["credential-anomaly", "api-rate-spike", "alert-only"]),
    ],
)
def test_every_source_is_routed_to_its_playbook(fixture, playbooks):
    assert [select(alert).id for alert in _alerts(fixture)] == playbooks


def test_a_guardduty_finding_gets_one_playbook_however_it_arrives():
    native = _alerts("guardduty_iam_access_key")[0]
    through_hub = _alerts("securityhub_custom_action")[1]

    assert select(native) == select(through_hub)


def test_an_instance_that_attacks_is_contained_while_one_under_attack_waits_for_a_person():
    probe = _alerts("guardduty_get_findings")[0]
    attacker = probe.model_copy(update={"labels": {**probe.labels, "resource_role": "ACTOR"}})

    targeted, compromised = select(probe), select(attacker)

    assert targeted.id == "guardduty-ec2-targeted" and compromised.id == "guardduty-ec2-instance"
    assert {a.name for a in targeted.actions if a.mode == "auto"} == {"tag_instance", "preserve_evidence"}
    assert [a.name for a in targeted.actions if a.mode == "approval"] == ["isolate_network"]


def test_a_guardduty_instance_finding_below_low_is_not_contained():
    alert = _alerts("guardduty_ec2_finding")[0].model_copy(update={"severity": Severity.INFORMATIONAL})

    assert select(alert).id != "guardduty-ec2-instance"


def test_the_three_starter_runbooks_match_their_type_patterns():
    by_id = {playbook.id: playbook for playbook in catalog()}

    assert by_id["credential-anomaly"].match.types == ("credential*", "unauthorized*", "iam*")
    assert by_id["api-rate-spike"].match.types == ("api_rate*", "rate_limit*", "throttl*")
    assert by_id["infrastructure-failure"].match.types == ("infra*", "instance*", "ec2*", "health*")


def test_playbook_ids_are_unique_and_the_last_catches_everything():
    ids = [playbook.id for playbook in catalog()]

    assert len(ids) == len(set(ids))
    assert catalog()[-1].match == Match()


def test_actions_that_run_are_implemented_and_the_rest_are_off():
    for playbook in catalog():
        names = [action.name for action in playbook.actions]
        assert len(names) == len(set(names)), playbook.id
        for action in playbook.actions:
            if action.name not in ACTIONS:
                assert action.mode == "off", f"{playbook.id}: {action.name} is not implemented"
            if action.mode == "auto":
                assert not ACTIONS[action.name].destructive, f"{playbook.id}: {action.name} is destructive"


@pytest.mark.parametrize("playbook", catalog(), ids=lambda playbook: playbook.id)
def test_each_runbook_has_every_section_and_names_its_actions(playbook):
    text = (ROOT / playbook.runbook).read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)

    for section in RUNBOOK_SECTIONS:
        assert section in headings, f"{playbook.runbook}: no '{section}' section"
    assert f"`{playbook.id}`" in text
    for action in playbook.actions:
        assert f"| `{action.name}` | {action.mode} |" in text, (
            f"{playbook.runbook}: {action.name} ({action.mode})"
        )


def test_every_runbook_is_used_by_a_playbook():
    used = {playbook.runbook for playbook in catalog()}

    assert {f"docs/runbooks/{path.name}" for path in (ROOT / "docs" / "runbooks").glob("*.md")} == used


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("APIRateSpike", "api_rate_spike"),
        ("InstanceDown", "instance_down"),
        ("ec2-cpu-high", "ec2_cpu_high"),
        ("EC2StatusCheckFailed", "ec2_status_check_failed"),
        ("infra: orders API 5xx rate", "infra_orders_api_5xx_rate"),
    ],
)
def test_names_are_matched_in_snake_case(name, expected):
    assert snake(name) == expected


def test_products_and_labels_match_without_regard_to_case():
    alert = _alerts("guardduty_iam_access_key")[0]

    assert Match(products=("guardduty",), labels={"resource_role": "target"}).fits(alert)
    assert not Match(labels={"missing": "*x*"}).fits(alert)


def test_a_category_pattern_narrows_a_match():
    control = _alerts("securityhub_control_failed")[0]

    assert Match(categories=("Software and Configuration Checks*",)).fits(control)
    assert not Match(categories=("TTPs*",)).fits(control)


def test_each_playbooks_next_steps_are_its_runbooks_first_manual_steps():
    for playbook in catalog():
        runbook = (ROOT / playbook.runbook).read_text()
        section = runbook.split("## Manual investigation", 1)[1].split("\n## ", 1)[0]
        flattened = " ".join(line.strip() for line in section.splitlines())
        assert playbook.next_steps, playbook.id
        for step in playbook.next_steps:
            assert step in flattened, f"{playbook.id}: {step!r} is not in {playbook.runbook}"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('dedup_key = ["host"]', "playbook 'mine': key 'dedup_key': Value error, unknown field 'host'"),
        ("dedup_key = []", "needs at least one field"),
        ('correlation_key = ["type", "type"]', "key 'correlation_key': Value error, a field is named twice"),
        ('correlation_key = ["label:"]', "unknown field 'label:'"),
    ],
)
def test_a_bad_key_in_the_catalog_is_refused_naming_the_playbook_and_the_field(tmp_path, entry, problem):
    path = tmp_path / "playbooks.toml"
    path.write_text(f'[[playbook]]\nid = "mine"\ntitle = "t"\nrunbook = "r"\nmatch = {{}}\n{entry}\n')

    with pytest.raises(PlaybookError) as refused:
        load(path)

    assert problem in str(refused.value)


def test_keys_name_alert_fields_and_labels(tmp_path):
    path = tmp_path / "playbooks.toml"
    path.write_text(
        '[[playbook]]\nid = "mine"\ntitle = "t"\nrunbook = "r"\nmatch = {}\n'
        'dedup_key = ["finding"]\ncorrelation_key = ["type", "account", "label:team"]\n'
    )

    [playbook] = load(path)

    assert playbook.dedup_key == ("finding",)
    assert playbook.correlation_key == ("type", "account", "label:team")
    assert all(p.dedup_key == ("account", "region", "type", "resource") for p in catalog())
