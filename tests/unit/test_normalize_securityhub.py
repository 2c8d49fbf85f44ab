import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize, normalize_all
from tourniquet.intake.securityhub import guardduty_type
from tourniquet.state import Ignored, Resolved


def _alert(event: dict) -> Alert:
    result = normalize(event)
    assert isinstance(result, Alert)
    return result


def test_guardduty_finding_through_security_hub_folds_with_the_native_one():
    native = _alert(load_event("guardduty_ec2_finding"))
    through_hub = _alert(load_event("securityhub_guardduty_ec2"))

    assert through_hub.source == "securityhub"
    assert through_hub.dedup_key == native.dedup_key
    assert through_hub.finding_id == native.finding_id
    assert through_hub.raw_ref == native.raw_ref
    for field in (
        "product",
        "type",
        "category",
        "severity",
        "severity_raw",
        "account",
        "region",
        "time",
        "count",
    ):
        assert getattr(through_hub, field) == getattr(native, field), field
    assert through_hub.resources[0].id == native.resources[0].id == "i-0a1b2c3d4e5f67890"
    assert through_hub.resources[0].details["vpc_id"] == "vpc-0fedcba9876543210"


def test_guardduty_iam_finding_through_a_custom_action_folds_with_the_native_one():
    native = _alert(load_event("guardduty_iam_access_key"))
    control, iam = normalize_all(load_event("securityhub_custom_action"))

    assert isinstance(iam, Alert) and isinstance(control, Alert)
    assert iam.dedup_key == native.dedup_key
    assert iam.actor == native.actor
    assert iam.labels["custom_action"] == control.labels["custom_action"] == "SendToTourniquet"


def test_failed_control_is_an_alert_on_its_resource():
    alert = _alert(load_event("securityhub_control_failed"))

    assert (alert.product, alert.type, alert.severity) == ("Security Hub", "IAM.6", Severity.CRITICAL)
    assert alert.category == "Software and Configuration Checks/Industry and Regulatory Standards"
    assert alert.primary_resource is not None
    assert (alert.primary_resource.type, alert.primary_resource.id) == ("AwsAccount", "123456789012")
    assert alert.labels == {"control": "IAM.6"}


def test_passed_control_resolves_the_incident_its_failure_opened():
    failed = _alert(load_event("securityhub_control_failed"))
    passed = normalize(load_event("securityhub_control_passed"))

    assert isinstance(passed, Resolved)
    assert passed.dedup_key == failed.dedup_key
    assert passed.reason == "control passed"


def test_resolved_workflow_resolves():
    event = load_event("securityhub_guardduty_ec2")
    event["detail"]["findings"][0]["Workflow"]["Status"] = "RESOLVED"

    result = normalize(event)

    assert isinstance(result, Resolved)
    assert result.dedup_key == _alert(load_event("guardduty_ec2_finding")).dedup_key


def test_suppressed_finding_opens_nothing():
    result = normalize(load_event("securityhub_suppressed"))

    assert isinstance(result, Ignored)
    assert "suppressed" in result.reason


@pytest.mark.parametrize(
    ("path", "value"),
    [(("RecordState",), "ARCHIVED"), (("ProductFields", "aws/guardduty/service/archived"), "true")],
)
def test_archived_finding_opens_nothing(path, value):
    event = load_event("securityhub_guardduty_ec2")
    target = event["detail"]["findings"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    result = normalize(event)

    assert isinstance(result, Ignored) and "archived" in result.reason


def test_control_that_could_not_run_is_ignored():
    event = load_event("securityhub_control_failed")
    event["detail"]["findings"][0]["Compliance"]["Status"] = "NOT_AVAILABLE"

    assert isinstance(normalize(event), Ignored)


def test_inspector_vulnerability_is_typed_by_its_cve():
    inspector = normalize_all(load_event("securityhub_get_findings"))[0]

    assert isinstance(inspector, Alert)
    assert (inspector.product, inspector.type, inspector.severity) == (
        "Inspector",
        "CVE-2024-6387",
        Severity.HIGH,
    )
    assert inspector.category == "Software and Configuration Checks/Vulnerabilities"


def test_insight_results_are_ignored_with_a_reason():
    result = normalize(load_event("securityhub_insight_results"))

    assert isinstance(result, Ignored) and "insight" in result.reason


def test_sample_flag_marks_a_drill():
    event = load_event("securityhub_guardduty_ec2")
    event["detail"]["findings"][0]["Sample"] = True

    assert _alert(event).drill is True


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ({"Label": "LOW", "Normalized": 90}, Severity.LOW),
        ({"Normalized": 75}, Severity.HIGH),
        ({}, Severity.MEDIUM),
    ],
)
def test_severity_prefers_the_label_then_the_normalized_score(severity, expected):
    event = load_event("securityhub_control_failed")
    finding = event["detail"]["findings"][0]
    finding["Severity"] = severity
    finding["FindingProviderFields"].pop("Severity")

    assert _alert(event).severity is expected


def test_resource_in_a_wrong_partition_still_names_the_instance():
    event = load_event("securityhub_guardduty_ec2")
    resource = event["detail"]["findings"][0]["Resources"][0]
    resource["Id"] = resource["Id"].replace("arn:aws:", "arn:aws-us-gov:")

    assert _alert(event).dedup_key == _alert(load_event("guardduty_ec2_finding")).dedup_key


def test_region_is_read_from_the_finding_arn_when_missing():
    event = load_event("securityhub_guardduty_ec2")
    event["detail"]["findings"][0].pop("Region")
    event.pop("region")

    assert _alert(event).region == "eu-west-1"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda f: f.pop("Id"), "detail.findings[0].Id"),
        (lambda f: f.pop("AwsAccountId"), "detail.findings[0].AwsAccountId"),
    ],
)
def test_unusable_finding_is_rejected_naming_the_field(mutate, field):
    event = load_event("securityhub_control_failed")
    event.pop("account")
    mutate(event["detail"]["findings"][0])

    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == field


def test_findings_event_without_findings_is_rejected():
    event = load_event("securityhub_control_failed")
    event["detail"]["findings"] = []

    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == "detail.findings"


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"], "Backdoor:EC2/C&CActivity.B!DNS"),
        (["TTPs/Policy:IAMUser-RootCredentialUsage"], "Policy:IAMUser/RootCredentialUsage"),
        (["Software and Configuration Checks/Vulnerabilities/CVE"], None),
        (
            [None, 3, "Effects/Data Exfiltration/Trojan:EC2-DNSDataExfiltration"],
            "Trojan:EC2/DNSDataExfiltration",
        ),
    ],
)
def test_guardduty_type_is_recovered_from_asff_types(types, expected):
    assert guardduty_type(types) == expected
