"""The deterministic verdict: every point names its reason, ATT&CK comes from the threat purpose of a finding
type and from what attack sequences name, and the diagnostics and the playbook move the score."""

from __future__ import annotations

import pytest

from tests.helpers import load_event
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet.state import Diagnostic, Plan, Verdict
from tourniquet.triage import score
from tourniquet.triage.attack import tactics

IN_SCOPE = Settings(SCOPE_ACCOUNTS="*", SCOPE_REGIONS="eu-west-1,us-east-1")


def _alert(name: str = "guardduty_ec2_finding", **detail: object) -> Alert:
    event = load_event(name)
    event["detail"].update(detail)
    alert = normalize(event)
    assert isinstance(alert, Alert)
    return alert


def _verdict(alert: Alert, diagnostics: tuple[Diagnostic, ...] = ()) -> Verdict:
    return score.verdict(alert, diagnostics, make_plan(alert, diagnostics, IN_SCOPE))


def _actor_trail(**summary: object) -> Diagnostic:
    return Diagnostic(check="cloudtrail_actor", status="ok", summary={"headline": "trail", **summary})


def test_the_score_is_the_sum_of_its_named_reasons():
    verdict = _verdict(_alert())

    assert verdict.risk_score == sum(r.points for r in verdict.reasons)
    assert all(r.reason for r in verdict.reasons)
    assert verdict.reasons[0].reason.startswith("severity HIGH")


@pytest.mark.parametrize(
    ("finding_type", "tactic"),
    [
        ("Backdoor:EC2/C&CActivity.B!DNS", "TA0011"),
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "TA0040"),
        ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "TA0001"),
        ("Recon:EC2/PortProbeUnprotectedPort", "TA0043"),
        ("Stealth:IAMUser/CloudTrailLoggingDisabled", "TA0005"),
        ("Exfiltration:S3/AnomalousBehavior", "TA0010"),
        ("PrivilegeEscalation:Runtime/ContainerMountsHostDirectory", "TA0004"),
    ],
)
def test_a_guardduty_types_threat_purpose_names_its_tactic(finding_type: str, tactic: str):
    assert [t.uid for t in tactics(_alert(type=finding_type))] == [tactic]


def test_behavior_policy_and_pentest_name_no_tactic():
    for finding_type in ("Behavior:EC2/NetworkPortUnusual", "Policy:IAMUser/RootCredentialUsage"):
        assert tactics(_alert(type=finding_type)) == ()


def test_an_attack_sequence_carries_its_own_tactics_and_techniques():
    verdict = _verdict(_alert("guardduty_attack_sequence"))

    assert [t.uid for t in verdict.tactics] == ["TA0006", "TA0005", "TA0010"]
    assert [t.uid for t in verdict.techniques] == ["T1562.008", "T1078.004"]
    assert any("attack sequence" in r.reason for r in verdict.reasons)
    assert verdict.analyst_action_required


def test_new_networks_denied_calls_and_broad_privileges_each_add_their_points():
    alert = _alert("guardduty_iam_access_key")
    quiet = _verdict(alert)
    loud = _verdict(
        alert,
        (
            _actor_trail(new_source_ips=["203.0.113.9"], errors={"AccessDenied": 3}),
            Diagnostic(
                check="iam_principal",
                status="ok",
                summary={"attached_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
            ),
        ),
    )

    added = {r.reason: r.points for r in loud.reasons}.items() - {
        r.reason: r.points for r in quiet.reasons
    }.items()
    assert sorted(points for _, points in added) == [10, 10, 15]
    assert loud.risk_score == min(100, quiet.risk_score + 35)
    assert {"ip", "203.0.113.9"} <= {value for i in loud.iocs for value in (i.type, i.value)}


def _with_role(finding_type: str, role: str) -> Verdict:
    service = {**load_event("guardduty_ec2_finding")["detail"]["service"], "resourceRole": role}
    return _verdict(_alert(type=finding_type, service=service))


def test_an_instance_only_probed_from_outside_scores_lower_than_one_that_attacks():
    brute_force = "UnauthorizedAccess:EC2/SSHBruteForce"

    assert _with_role(brute_force, "TARGET").risk_score == _with_role(brute_force, "ACTOR").risk_score - 15
    # The target of a miner is no less at risk for being the target.
    miner = "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert _with_role(miner, "TARGET").risk_score == _with_role(miner, "ACTOR").risk_score - 5


def test_a_drill_is_scored_as_the_real_finding_and_never_asks_for_an_analyst():
    drill = _verdict(_alert("guardduty_sample_finding"))

    assert drill.risk_score >= score.ACTION_THRESHOLD
    assert not drill.analyst_action_required
    assert drill.attention == ()


def test_a_high_severity_detection_nothing_contains_automatically_asks_for_an_analyst():
    verdict = _verdict(
        _alert("guardduty_eks_cluster", type="Discovery:Kubernetes/SuccessfulAnonymousAccess", severity=7)
    )

    assert verdict.risk_score < score.ACTION_THRESHOLD
    assert verdict.analyst_action_required
    assert verdict.attention == ("severity HIGH and nothing is contained automatically",)


def test_a_monitoring_alerts_severity_alone_asks_for_no_analyst():
    verdict = _verdict(_alert("cloudwatch_alarm_state_change"))

    assert verdict.severity.value == "HIGH" and verdict.risk_score < score.ACTION_THRESHOLD
    assert not verdict.analyst_action_required


def test_the_verdict_names_the_playbook_and_the_runbooks_next_steps():
    alert = _alert()
    plan = make_plan(alert, (), IN_SCOPE)
    verdict = score.verdict(alert, (), plan)

    assert any(plan.playbook in r.reason for r in verdict.reasons)
    assert verdict.next_steps[: len(plan.next_steps)] == plan.next_steps


def test_every_evidence_item_is_numbered_and_the_finding_comes_first():
    verdict = _verdict(_alert(), (_actor_trail(),))

    assert [e.id for e in verdict.evidence] == [f"E{n}" for n in range(1, len(verdict.evidence) + 1)]
    assert verdict.evidence[0].source == "finding"


def test_an_empty_plan_scores_no_playbook_points():
    alert = _alert()
    verdict = score.verdict(alert, (), Plan(playbook="alert-only"))

    assert not any("playbook" in r.reason for r in verdict.reasons)
