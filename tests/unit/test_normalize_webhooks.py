import pytest

from tests.helpers import load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import UNKNOWN, Alert, Severity
from tourniquet.intake.normalize import normalize, normalize_all, normalize_part, parts, webhook_parts
from tourniquet.state import Ignored, Resolved


def _alerts(event: dict) -> list[Alert]:
    outcomes = normalize_all(event)
    assert all(isinstance(outcome, Alert) for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def test_grafana_unified_webhook_carries_one_alert_per_series():
    cpu, health = _alerts(load_event("grafana_unified_firing"))

    assert (cpu.source, cpu.product, cpu.type) == ("grafana", "Grafana", "InstanceHighCPU")
    assert (cpu.severity, cpu.severity_raw) == (Severity.CRITICAL, "critical")
    assert (cpu.account, cpu.region) == ("123456789012", "eu-west-1")
    assert cpu.primary_resource is not None
    assert (cpu.primary_resource.type, cpu.primary_resource.id) == ("AwsEc2Instance", "i-0a1b2c3d4e5f67890")
    assert cpu.finding_id == "57c6d9296de2ad39@2026-11-20T09:10:00.000Z"
    assert cpu.title == "CPU on web-app-1 above 95% for 10 minutes"
    assert "value=97.4" in cpu.description
    assert cpu.raw_ref is not None and "viewPanel=4" in cpu.raw_ref
    assert cpu.category == "EC2 fleet"
    assert (health.type, health.severity, health.account) == ("HealthCheckFailing", Severity.MEDIUM, UNKNOWN)
    assert health.primary_resource is not None
    assert (health.primary_resource.type, health.primary_resource.id) == ("Other", "checkout")


def test_grafana_resolved_alert_resolves_the_incident_its_firing_opened():
    firing = _alerts(load_event("grafana_unified_firing"))[0]
    (resolved,) = normalize_all(load_event("grafana_unified_resolved"))

    assert isinstance(resolved, Resolved)
    assert (resolved.dedup_key, resolved.finding_id) == (firing.dedup_key, firing.finding_id)
    assert resolved.time == "2026-11-20T09:44:00.000Z"


def test_grafana_contact_point_test_is_a_drill():
    (alert,) = _alerts(load_event("grafana_test_notification"))

    assert alert.drill is True
    assert alert.time == "2026-11-20T14:02:11.410Z"  # nanoseconds trimmed


def test_grafana_legacy_alerting_and_ok_share_the_rule_identity():
    alerting = normalize(load_event("grafana_legacy_alerting"))
    ok = normalize(load_event("grafana_legacy_ok"))

    assert isinstance(alerting, Alert) and isinstance(ok, Resolved)
    assert alerting.type == "infra: orders API 5xx rate"
    assert (alerting.severity, alerting.severity_raw) == (Severity.HIGH, "high")
    assert alerting.finding_id == ok.finding_id == "grafana-rule:1:27"
    assert ok.dedup_key == alerting.dedup_key
    assert "5xx per minute=512" in alerting.description
    assert alerting.primary_resource is not None and alerting.primary_resource.id == "orders-api"


@pytest.mark.parametrize("state", ["pending", "paused"])
def test_grafana_legacy_quiet_states_are_ignored(state):
    event = load_event("grafana_legacy_alerting") | {"state": state}

    result = normalize(event)

    assert isinstance(result, Ignored) and state in result.reason


def test_grafana_legacy_no_data_is_an_alert_that_says_so():
    event = load_event("grafana_legacy_alerting") | {"state": "no_data", "evalMatches": []}

    alert = normalize(event)

    assert isinstance(alert, Alert) and "No data." in alert.description


def test_alertmanager_v4_webhook_normalizes_every_alert():
    stuffing, rate, crash = _alerts(load_event("alertmanager_v4_firing"))

    assert [a.source for a in (stuffing, rate, crash)] == ["alertmanager"] * 3
    assert (stuffing.type, stuffing.severity, stuffing.account) == (
        "CredentialStuffingDetected",
        Severity.CRITICAL,
        "123456789012",
    )
    assert (rate.severity, rate.severity_raw) == (Severity.MEDIUM, "warning")
    assert rate.primary_resource is not None and rate.primary_resource.id == "10.0.3.17:8080"
    assert (crash.severity, crash.primary_resource.details if crash.primary_resource else None) == (
        Severity.INFORMATIONAL,
        {"label": "pod"},
    )
    assert rate.raw_ref is not None and rate.raw_ref.startswith("http://prometheus")
    assert rate.labels["namespace"] == "orders"


def test_alertmanager_resolved_alert_resolves_the_incident_its_firing_opened():
    rate = _alerts(load_event("alertmanager_v4_firing"))[1]
    (resolved,) = normalize_all(load_event("alertmanager_v4_resolved"))

    assert isinstance(resolved, Resolved)
    assert (resolved.dedup_key, resolved.finding_id) == (rate.dedup_key, rate.finding_id)
    assert resolved.reason == "resolved in Alertmanager"


def test_messy_alertmanager_batch_keeps_the_good_alert_and_names_the_unusable_ones():
    found = parts(load_event("alertmanager_messy"))
    results = []
    for part in found:
        try:
            results.append(normalize_part(part))
        except InvalidAlert as exc:
            results.append(exc.field)

    first = results[0]
    assert isinstance(first, Alert)
    assert (first.type, first.severity, first.severity_raw) == ("InstanceDown", Severity.HIGH, "P2")
    assert first.time == "2026-11-20T09:14:33.123Z"
    assert first.primary_resource is not None and first.primary_resource.type == "AwsEc2Instance"
    assert first.raw_ref is None
    assert results[1:] == ["alerts[1].labels.alertname", "alerts[2].labels.alertname"]


def test_an_alert_without_a_fingerprint_gets_a_stable_one_from_its_labels():
    event = load_event("alertmanager_v4_firing")
    for alert in event["alerts"]:
        alert.pop("fingerprint")

    first, again = normalize_all(event), normalize_all(event)

    assert [a.finding_id for a in first] == [a.finding_id for a in again]
    assert len({a.finding_id for a in first}) == 3


def test_unknown_status_is_rejected_naming_the_field():
    event = load_event("alertmanager_v4_firing")
    event["alerts"][0]["status"] = "silenced"

    with pytest.raises(InvalidAlert) as caught:
        normalize_all(event)

    assert caught.value.field == "alerts[0].status"


def test_webhook_parts_wrap_each_alert_in_an_envelope_the_workflow_understands():
    found = webhook_parts("alertmanager", load_event("alertmanager_v4_firing"))

    assert [p.path for p in found] == ["alerts[0]", "alerts[1]", "alerts[2]"]
    for part in found:
        assert part.event["source"] == "tourniquet.webhook"
        assert len(part.event["detail"]["payload"]["alerts"]) == 1
        assert normalize(part.event) == normalize_part(part)


def test_grafana_envelope_narrows_the_group_message_away():
    (first, _) = webhook_parts("grafana", load_event("grafana_unified_firing"))

    payload = first.event["detail"]["payload"]
    assert "message" not in payload
    assert payload["orgId"] == 1 and payload["alerts"][0]["labels"]["alertname"] == "InstanceHighCPU"


def test_bare_payload_is_told_apart_by_its_fields():
    grafana = normalize_all(load_event("grafana_unified_firing"))
    alertmanager = normalize_all(load_event("alertmanager_v4_firing"))

    assert {a.source for a in grafana} == {"grafana"}
    assert {a.source for a in alertmanager} == {"alertmanager"}


@pytest.mark.parametrize(
    ("source", "body", "field"),
    [
        ("grafana", {"hello": "world"}, "alerts"),
        ("alertmanager", {"alerts": "none"}, "alerts"),
        ("alertmanager", {"alerts": []}, "alerts"),
        ("grafana", ["not", "an", "object"], "body"),
    ],
)
def test_unknown_webhook_format_is_rejected_naming_the_field(source, body, field):
    with pytest.raises(InvalidAlert) as caught:
        webhook_parts(source, body)

    assert caught.value.field == field


@pytest.mark.parametrize("fixture", ["alertmanager_v4_firing", "grafana_unified_firing"])
def test_each_alert_of_a_delivery_carries_its_group(fixture):
    event = load_event(fixture)

    assert {alert.group_key for alert in _alerts(event)} == {event["groupKey"]}


def test_an_alert_delivered_without_a_group_has_none():
    event = load_event("alertmanager_v4_firing")
    del event["groupKey"]

    assert {alert.group_key for alert in _alerts(event)} == {None}
