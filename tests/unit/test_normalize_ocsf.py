"""The new Security Hub's findings (OCSF, "Findings Imported V2") normalize like the other sources."""

from __future__ import annotations

import pytest
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from tests.helpers import load_event
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.catalog import select
from tourniquet.state import Ignored, Resolved


def _finding(event: dict) -> dict:
    return event["detail"]["findings"][0]


def test_the_fixtures_are_valid_ocsf_detection_findings():
    for name in ("securityhub_v2_guardduty_ec2", "securityhub_v2_resolved"):
        DetectionFinding.model_validate(_finding(load_event(name)))


def test_a_guardduty_finding_normalizes_as_the_native_finding_would():
    alert = normalize(load_event("securityhub_v2_guardduty_ec2"))

    assert isinstance(alert, Alert)
    assert (alert.source, alert.product, alert.type) == (
        "securityhub",
        "GuardDuty",
        "Backdoor:EC2/C&CActivity.B!DNS",
    )
    assert alert.finding_id == "5ec2a9d9e8f14c3a9b7e6d5c4b3a2910"
    assert alert.severity is Severity.HIGH
    assert alert.primary_resource is not None
    assert (alert.primary_resource.type, alert.primary_resource.id) == (
        "AwsEc2Instance",
        "i-0c4d5e6f7a8b90123",
    )
    assert alert.labels == {"resource_role": "ACTOR"}
    assert [a.technique for a in alert.attacks] == ["T1071.004 - DNS"]
    assert [(o.type, o.value) for o in alert.observables] == [("domain", "c2.example-threat.net")]


def test_it_folds_with_the_same_finding_from_guardduty():
    event = load_event("guardduty_ec2_finding")
    event["detail"]["type"] = "Backdoor:EC2/C&CActivity.B!DNS"
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-0c4d5e6f7a8b90123"
    native, via_hub = normalize(event), normalize(load_event("securityhub_v2_guardduty_ec2"))

    assert isinstance(native, Alert) and isinstance(via_hub, Alert)
    assert native.dedup_key == via_hub.dedup_key


def test_it_names_the_finding_for_the_new_security_hubs_api():
    alert = normalize(load_event("securityhub_v2_guardduty_ec2"))

    assert isinstance(alert, Alert) and alert.securityhub is not None
    assert alert.securityhub.api == "ocsf"
    assert alert.securityhub.id == _finding(load_event("securityhub_v2_guardduty_ec2"))["metadata"]["uid"]
    assert (alert.securityhub.account, alert.securityhub.region) == ("123456789012", "eu-west-1")


def test_it_routes_to_the_guardduty_playbook():
    alert = normalize(load_event("securityhub_v2_guardduty_ec2"))

    assert isinstance(alert, Alert)
    assert select(alert).id == "guardduty-ec2-instance"


def test_a_resolved_finding_resolves_its_incident():
    resolved = normalize(load_event("securityhub_v2_resolved"))
    opened = normalize(load_event("securityhub_v2_guardduty_ec2"))

    assert isinstance(resolved, Resolved) and isinstance(opened, Alert)
    assert resolved.dedup_key == opened.dedup_key


@pytest.mark.parametrize(("status_id", "reason"), [(3, "suppressed"), (5, "archived")])
def test_suppressed_and_archived_findings_are_ignored(status_id: int, reason: str):
    event = load_event("securityhub_v2_guardduty_ec2")
    _finding(event)["status_id"] = status_id

    ignored = normalize(event)

    assert isinstance(ignored, Ignored)
    assert ignored.reason.startswith(reason)


def test_another_products_finding_keeps_its_own_type_and_routes_to_security_hub():
    event = load_event("securityhub_v2_guardduty_ec2")
    finding = _finding(event)
    finding["metadata"]["product"] = {"name": "Inspector", "vendor_name": "AWS"}
    finding["finding_info"]["types"] = ["Software and Configuration Checks/Vulnerabilities/CVE"]
    finding["severity_id"] = 5

    alert = normalize(event)

    assert isinstance(alert, Alert)
    assert alert.product == "Inspector"
    assert alert.severity is Severity.CRITICAL
    assert alert.type == "Software and Configuration Checks/Vulnerabilities/CVE"
    assert select(alert).id == "securityhub-finding"


def test_a_finding_without_an_id_is_rejected_naming_the_field():
    event = load_event("securityhub_v2_guardduty_ec2")
    del _finding(event)["finding_info"]["uid"]

    with pytest.raises(Exception, match=r"detail\.findings\[0\]\.finding_info\.uid"):
        normalize(event)
