import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.common import Ignored
from tourniquet.intake.guardduty import severity
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize


def test_ec2_finding_becomes_an_alert_on_the_instance():
    alert = normalize(load_event("guardduty_ec2_finding"))

    assert isinstance(alert, Alert)
    assert alert.source == "guardduty"
    assert alert.type == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert alert.category == "CryptoCurrency"
    assert alert.severity is Severity.HIGH
    assert alert.severity_raw == "8"
    assert (alert.account, alert.region) == ("123456789012", "eu-west-1")
    assert alert.primary_resource is not None
    assert alert.primary_resource.type == "AwsEc2Instance"
    assert alert.primary_resource.id == "i-0a1b2c3d4e5f67890"
    assert alert.primary_resource.details["vpc_id"] == "vpc-0fedcba9876543210"
    assert alert.count == 3
    assert alert.drill is False


def test_archived_finding_is_ignored_with_a_reason():
    event = load_event("guardduty_ec2_finding")
    event["detail"]["service"]["archived"] = True

    result = normalize(event)

    assert isinstance(result, Ignored)
    assert "archived" in result.reason


def test_sample_finding_is_flagged_as_a_drill():
    event = load_event("guardduty_ec2_finding")
    event["detail"]["service"]["additionalInfo"] = {"sample": True}

    alert = normalize(event)

    assert isinstance(alert, Alert)
    assert alert.drill is True


def test_dedup_key_is_the_same_for_a_resent_update():
    first = load_event("guardduty_ec2_finding")
    update = load_event("guardduty_ec2_finding")
    update["detail"]["service"]["count"] = 9
    update["detail"]["updatedAt"] = "2026-11-20T15:14:12.347Z"

    a, b = normalize(first), normalize(update)

    assert isinstance(a, Alert) and isinstance(b, Alert)
    assert a.dedup_key == b.dedup_key


def test_dedup_key_differs_for_another_instance():
    other = load_event("guardduty_ec2_finding")
    other["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-0ffffffffffffffff"

    a, b = normalize(load_event("guardduty_ec2_finding")), normalize(other)

    assert isinstance(a, Alert) and isinstance(b, Alert)
    assert a.dedup_key != b.dedup_key


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"].pop("id"), "detail.id"),
        (lambda e: e["detail"].__setitem__("severity", "very"), "detail.severity"),
        (lambda e: e["detail"]["resource"]["instanceDetails"].pop("instanceId"), "instanceId"),
        (lambda e: e.__setitem__("detail", "oops"), "detail"),
        (lambda e: e.__setitem__("source", "aws.unknown"), "source"),
    ],
)
def test_unusable_input_is_rejected_naming_the_field(mutate, field):
    event = load_event("guardduty_ec2_finding")
    mutate(event)

    with pytest.raises(InvalidAlert, match=field):
        normalize(event)


def test_non_object_input_is_rejected():
    with pytest.raises(InvalidAlert, match="JSON object"):
        normalize(["not", "an", "event"])


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, Severity.INFORMATIONAL), (2.0, Severity.LOW), (5.5, Severity.MEDIUM), (8.9, Severity.HIGH),
     (9.0, Severity.CRITICAL)],
)
def test_guardduty_severity_bands(score, expected):
    assert severity(score) is expected
