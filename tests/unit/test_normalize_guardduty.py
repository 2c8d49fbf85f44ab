import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.common import dedup_key
from tourniquet.intake.guardduty import severity
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize, normalize_all
from tourniquet.state import Ignored


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
    [
        (0, Severity.INFORMATIONAL),
        (2.0, Severity.LOW),
        (5.5, Severity.MEDIUM),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
    ],
)
def test_guardduty_severity_bands(score, expected):
    assert severity(score) is expected


def _alert(event: dict) -> Alert:
    result = normalize(event)
    assert isinstance(result, Alert)
    return result


@pytest.mark.parametrize(
    ("fixture", "resource_type", "resource_id"),
    [
        ("guardduty_ec2_finding", "AwsEc2Instance", "i-0a1b2c3d4e5f67890"),
        ("guardduty_iam_access_key", "AwsIamAccessKey", "AKIAIOSFODNN7EXAMPLE"),
        ("guardduty_s3_bucket", "AwsS3Bucket", "customer-exports-prod"),
        ("guardduty_eks_cluster", "AwsEksCluster", "payments-prod"),
        (
            "guardduty_container",
            "Container",
            "3b1f7d9c2a54e6f08d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e",
        ),
        ("guardduty_ecs_cluster", "AwsEcsCluster", "orders"),
        ("guardduty_rds", "AwsRdsDbInstance", "orders-db-1"),
        ("guardduty_lambda", "AwsLambdaFunction", "image-resizer"),
        ("guardduty_attack_sequence", "AwsS3Bucket", "customer-exports-prod"),
    ],
)
def test_every_resource_type_names_its_subject_first(fixture, resource_type, resource_id):
    alert = _alert(load_event(fixture))

    assert alert.source == "guardduty" and alert.product == "GuardDuty"
    assert alert.primary_resource is not None
    assert (alert.primary_resource.type, alert.primary_resource.id) == (resource_type, resource_id)


def test_container_finding_also_names_its_host_instance():
    alert = _alert(load_event("guardduty_container"))

    assert [(r.type, r.id) for r in alert.resources][1] == ("AwsEc2Instance", "i-0c0ffee0c0ffee001")


def test_eks_finding_carries_the_workload_and_the_kubernetes_user():
    alert = _alert(load_event("guardduty_eks_cluster"))

    assert alert.primary_resource is not None
    assert alert.primary_resource.details["namespace"] == "default"
    assert alert.primary_resource.details["workload"] == "debug-shell"
    assert alert.actor is not None
    assert alert.actor.user_name == "system:serviceaccount:ci:deployer"
    assert alert.actor.ip == "203.0.113.50"


def test_iam_finding_names_the_actor_principal_key_and_address():
    alert = _alert(load_event("guardduty_iam_access_key"))

    assert alert.actor is not None
    assert alert.actor.model_dump() == {
        "principal": "AIDAEXAMPLEPRINCIPAL1",
        "principal_type": "IAMUser",
        "user_name": "ci-deployer",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "ip": "198.51.100.23",
    }
    assert alert.labels == {"resource_role": "TARGET", "feature": "CloudTrailManagementEvent"}


def test_rds_finding_names_the_database_user_and_login_address():
    alert = _alert(load_event("guardduty_rds"))

    assert alert.actor is not None
    assert (alert.actor.user_name, alert.actor.ip) == ("reporting", "192.0.2.77")
    assert alert.primary_resource is not None
    assert alert.primary_resource.details == {"engine": "aurora-postgresql", "db_cluster": "orders-db"}


def test_outbound_peer_is_not_taken_for_the_actor():
    # The Lambda function talked out to a mining pool: the pool is not who acted.
    assert _alert(load_event("guardduty_lambda")).actor is None


def test_attack_sequence_keys_on_the_sequence_and_lists_its_resources():
    alert = _alert(load_event("guardduty_attack_sequence"))

    assert alert.severity is Severity.CRITICAL
    assert [(r.type, r.id) for r in alert.resources] == [
        ("AwsS3Bucket", "customer-exports-prod"),
        ("AwsIamAccessKey", "AKIAIOSFODNN7EXAMPLE"),
    ]
    assert alert.actor is not None
    assert (alert.actor.user_name, alert.actor.ip) == ("ci-deployer", "198.51.100.23")
    # Space-separated nanosecond times, as GuardDuty writes them in sequences.
    assert (alert.first_seen, alert.time) == ("2026-11-20T08:52:10.000Z", "2026-11-20T09:14:02.000Z")
    assert alert.dedup_key == dedup_key(
        "123456789012", "eu-west-1", alert.type, "8c258d654378414b9bc26f61a93eb816"
    )


def test_sample_finding_in_additional_info_value_is_a_drill():
    alert = _alert(load_event("guardduty_sample_finding"))

    assert alert.drill is True
    assert alert.primary_resource is not None and alert.primary_resource.id == "i-99999999"


def test_get_findings_output_normalizes_every_finding_like_the_eventbridge_form():
    outcomes = normalize_all(load_event("guardduty_get_findings"))
    native = _alert(load_event("guardduty_iam_access_key"))

    assert [o.type for o in outcomes if isinstance(o, Alert)] == [
        "Recon:EC2/PortProbeUnprotectedPort",
        "CredentialAccess:IAMUser/AnomalousBehavior",
    ]
    from_api = outcomes[1]
    assert isinstance(from_api, Alert)
    assert from_api.model_dump() == native.model_dump()


def test_get_findings_port_probe_names_the_prober():
    probe = normalize_all(load_event("guardduty_get_findings"))[0]

    assert isinstance(probe, Alert)
    assert probe.actor is not None and probe.actor.ip == "192.0.2.10"
    assert probe.labels["resource_role"] == "TARGET"
    assert probe.count == 57


def test_get_findings_errors_name_the_pascal_case_field():
    event = load_event("guardduty_get_findings")
    del event["Findings"][0]["Resource"]["InstanceDetails"]["InstanceId"]

    with pytest.raises(InvalidAlert) as caught:
        normalize_all(event)

    assert caught.value.field == "Findings[0].Resource.InstanceDetails.InstanceId"


def test_one_event_with_several_findings_is_refused_by_the_single_alert_step():
    with pytest.raises(InvalidAlert, match="carries 2 alerts") as caught:
        normalize(load_event("guardduty_get_findings"))

    assert caught.value.field == "Findings"


def test_messy_finding_is_accepted_with_defaults():
    alert = _alert(load_event("guardduty_messy_finding"))

    assert (alert.severity, alert.severity_raw) == (Severity.HIGH, "8.0")
    assert alert.count == 12
    assert alert.region == "eu-west-1"  # from the envelope: the finding lost its own
    assert alert.title == alert.type  # no title: the type stands in
    assert alert.time == "2026-11-20T09:13:48.123Z"  # +01:00 with nanoseconds
    assert alert.first_seen == "2026-11-20T08:59:02.000Z"
    assert alert.raw_ref is not None and alert.raw_ref.startswith("arn:aws-cn:guardduty:")
    assert alert.drill is False


def test_messy_finding_folds_with_the_clean_one():
    clean, messy = _alert(load_event("guardduty_ec2_finding")), _alert(load_event("guardduty_messy_finding"))

    assert messy.dedup_key == clean.dedup_key


@pytest.mark.parametrize("label", ["High", "HIGH", " high "])
def test_a_severity_label_is_read_where_a_score_belongs(label):
    event = load_event("guardduty_ec2_finding")
    event["detail"]["severity"] = label

    alert = _alert(event)

    assert (alert.severity, alert.severity_raw) == (Severity.HIGH, label.strip())


@pytest.mark.parametrize("archived", [True, "true", "TRUE"])
def test_archived_in_any_spelling_is_ignored(archived):
    event = load_event("guardduty_ec2_finding")
    event["detail"]["service"]["archived"] = archived

    assert isinstance(normalize(event), Ignored)


def test_malware_scan_result_is_ignored_with_a_reason():
    result = normalize(load_event("guardduty_malware_scan_result"))

    assert isinstance(result, Ignored)
    assert result.source == "guardduty"
    assert "malware scan result" in result.reason


def test_s3_finding_without_any_bucket_is_rejected_naming_the_field():
    event = load_event("guardduty_s3_bucket")
    event["detail"]["resource"]["s3BucketDetails"] = []

    with pytest.raises(InvalidAlert) as caught:
        normalize(event)

    assert caught.value.field == "detail.resource.s3BucketDetails"


def test_unknown_resource_type_keys_on_the_finding_id():
    event = load_event("guardduty_ec2_finding")
    event["detail"]["resource"] = {"resourceType": "EC2LaunchTemplate"}

    alert = _alert(event)

    assert alert.resources == ()
    assert alert.dedup_key == dedup_key("123456789012", "eu-west-1", alert.type, alert.finding_id)
