"""The webhook intake against moto: authentication, limits, errors a sender can act on, and one workflow
execution per accepted alert whose input the NormalizeAlert state understands."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handlers.webhooks import (
    HMAC_KEY,
    TOKEN,
    bearer,
    call,
    executions,
    request,
    webhook_environment,
)
from tests.helpers import REGION, load_event
from tourniquet.intake import auth
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.intake.webhook import MAX_BODY_BYTES


@pytest.fixture
def webhook(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    yield webhook_environment(monkeypatch)


def test_grafana_batch_starts_one_execution_per_alert(webhook):
    status, body, _ = call(request("grafana", load_event("grafana_unified_firing"), headers=bearer()))

    assert status == 202
    assert [(a["index"], a["outcome"]) for a in body["accepted"]] == [(0, "alert"), (1, "alert")]
    assert body["rejected"] == []
    inputs = executions(webhook)
    assert len(inputs) == 2
    alerts = [normalize(event) for event in inputs]  # what the NormalizeAlert state will make of each input
    assert all(isinstance(alert, Alert) for alert in alerts)
    assert {a.type for a in alerts} == {"InstanceHighCPU", "HealthCheckFailing"}  # type: ignore[union-attr]
    assert {a.dedup_key for a in alerts} == {a["dedup_key"] for a in body["accepted"]}  # type: ignore[union-attr]


def test_a_valid_body_signature_authenticates(webhook):
    body = json.dumps(load_event("alertmanager_v4_firing"))

    status, accepted, _ = call(
        request(
            "alertmanager", body, headers={auth.SIGNATURE_HEADER: auth.signature(body.encode(), HMAC_KEY)}
        )
    )

    assert status == 202
    assert len(accepted["accepted"]) == 3
    assert len(executions(webhook)) == 3


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-token"),
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": "Bearer"},
        {auth.SIGNATURE_HEADER: "sha256=" + "0" * 64},
        {auth.SIGNATURE_HEADER: auth.signature(b"another body", HMAC_KEY)},
        {auth.SIGNATURE_HEADER: "garbage-é"},
    ],
)
def test_missing_or_bad_credentials_get_401_and_start_nothing(webhook, headers):
    status, body, response_headers = call(
        request("grafana", load_event("grafana_unified_firing"), headers=headers)
    )

    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert "bearer" in response_headers["www-authenticate"].lower()
    assert executions(webhook) == []


def test_an_oversized_body_gets_413(webhook):
    status, body, _ = call(request("grafana", "x" * (MAX_BODY_BYTES + 1), headers=bearer()))

    assert status == 413
    assert body["error"] == {
        "code": "payload_too_large",
        "message": body["error"]["message"],
        "field": "body",
    }


@pytest.mark.parametrize(
    ("source", "body", "status", "code", "field"),
    [
        ("grafana", "{not json", 400, "invalid_json", "body"),
        ("grafana", "[" * 50_000, 400, "nested_too_deeply", "body"),
        ("grafana", {"hello": "world"}, 400, "unknown_format", "alerts"),
        ("alertmanager", [1, 2, 3], 400, "unknown_format", "body"),
        ("nagios", {"alerts": []}, 404, "unknown_source", "source"),
    ],
)
def test_client_mistakes_get_a_machine_readable_4xx(webhook, source, body, status, code, field):
    got_status, got, _ = call(request(source, body, headers=bearer()))

    assert got_status == status
    assert (got["error"]["code"], got["error"]["field"]) == (code, field)
    assert got["error"]["message"]
    assert executions(webhook) == []


def test_only_post_is_accepted(webhook):
    status, body, _ = call(request("grafana", "", headers=bearer(), method="GET"))

    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


def test_a_base64_body_is_decoded(webhook):
    status, body, _ = call(
        request("alertmanager", load_event("alertmanager_v4_firing"), headers=bearer(), encode=True)
    )

    assert status == 202 and len(body["accepted"]) == 3


def test_a_broken_base64_body_is_refused(webhook):
    event = request("alertmanager", "{}", headers=bearer())
    event.update(isBase64Encoded=True, body="***not base64***")

    status, body, _ = call(event)

    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "invalid_body", "body")


def test_header_names_are_matched_in_any_case(webhook):
    event = request(
        "grafana", load_event("grafana_unified_firing"), headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert call(event)[0] == 202


def test_a_payload_format_1_event_is_a_503_and_starts_nothing(webhook):
    # Every route is deployed with payload format 2.0: another format means a misconfigured integration.
    event = request("grafana", load_event("grafana_unified_firing"), headers=bearer())
    v1 = {key: event[key] for key in ("headers", "body", "isBase64Encoded", "pathParameters")}
    v1.update(version="1.0", httpMethod="POST", requestContext={"requestId": "r"})

    status, body, _ = call(v1)

    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert executions(webhook) == []


def test_the_body_is_authenticated_on_its_exact_bytes_when_base64_encoded(webhook):
    raw = json.dumps(load_event("alertmanager_v4_firing"), ensure_ascii=False).encode() + b"\n"
    event = request("alertmanager", raw, headers={auth.SIGNATURE_HEADER: auth.signature(raw, HMAC_KEY)})
    event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)

    status, body, _ = call(event)

    assert status == 202, body


def test_a_batch_with_unusable_alerts_starts_the_good_ones_and_reports_the_rest(webhook):
    status, body, _ = call(request("alertmanager", load_event("alertmanager_messy"), headers=bearer()))

    assert status == 207
    assert [a["index"] for a in body["accepted"]] == [0]
    assert [(r["index"], r["error"]["code"], r["error"]["field"]) for r in body["rejected"]] == [
        (1, "invalid_alert", "alerts[1].labels.alertname"),
        (2, "invalid_alert", "alerts[2].labels.alertname"),
    ]
    assert len(executions(webhook)) == 1


def test_an_alert_too_large_for_the_workflow_is_rejected_not_retried(webhook):
    small = {"labels": {"alertname": "Small"}}
    big = {"labels": {"alertname": "Big"}, "annotations": {"description": ""}}
    payload = {"alerts": [big, small]}
    room = MAX_BODY_BYTES - 40 - len(json.dumps(payload, separators=(",", ":")))
    big["annotations"]["description"] = "x" * room
    body = json.dumps(payload, separators=(",", ":"))

    status, response, _ = call(request("alertmanager", body, headers=bearer()))

    assert len(body) <= MAX_BODY_BYTES
    assert status == 207
    assert [(r["index"], r["error"]["code"]) for r in response["rejected"]] == [(0, "alert_too_large")]
    assert [a["index"] for a in response["accepted"]] == [1]


def test_a_batch_with_no_usable_alert_gets_400_with_every_rejection(webhook):
    payload = load_event("alertmanager_messy")
    payload["alerts"] = payload["alerts"][1:]

    status, body, _ = call(request("alertmanager", payload, headers=bearer()))

    assert status == 400
    assert (body["error"]["code"], body["error"]["field"]) == ("invalid_alert", "alerts[0].labels.alertname")
    assert len(body["rejected"]) == 2 and body["accepted"] == []
    assert executions(webhook) == []


def test_resolved_alerts_start_executions_that_resolve_the_firing_alerts_incident(webhook):
    firing = call(
        request("alertmanager", load_event("alertmanager_v4_firing"), headers=bearer(), request_id="a")
    )
    resolved = call(
        request("alertmanager", load_event("alertmanager_v4_resolved"), headers=bearer(), request_id="b")
    )

    (entry,) = resolved[1]["accepted"]
    assert entry["outcome"] == "resolved"
    assert entry["dedup_key"] == firing[1]["accepted"][1]["dedup_key"]
    assert len(executions(webhook)) == 4


def test_a_retried_request_starts_nothing_twice(webhook):
    first = call(
        request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="same")
    )
    again = call(
        request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="same")
    )

    assert [a["execution_arn"] for a in again[1]["accepted"]] == [
        a["execution_arn"] for a in first[1]["accepted"]
    ]
    assert len(executions(webhook)) == 2


def test_a_repeat_notification_is_a_new_delivery(webhook):
    call(request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="one"))
    call(request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="two"))

    assert len(executions(webhook)) == 4  # both reach the workflow; the second folds into the incidents


def test_truncated_alerts_are_reported_back(webhook):
    payload = load_event("alertmanager_v4_firing") | {"truncatedAlerts": 7}

    _, body, _ = call(request("alertmanager", payload, headers=bearer()))

    assert body["truncated_alerts"] == 7


def test_the_secret_is_read_once_per_container(webhook):
    call(request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="one"))
    webhook.secrets.delete_secret(SecretId=webhook.secret_arn, ForceDeleteWithoutRecovery=True)

    status, _, _ = call(
        request("grafana", load_event("grafana_unified_firing"), headers=bearer(), request_id="two")
    )

    assert status == 202


@pytest.mark.parametrize(
    "secret",
    [{"bearer_token": "", "hmac_secret": " "}, {"something": "else"}, ["not", "an", "object"]],
)
def test_a_malformed_secret_is_a_503_not_an_open_door(webhook, monkeypatch, secret):
    arn = webhook.secrets.create_secret(Name=f"malformed-{uuid.uuid4()}", SecretString=json.dumps(secret))[
        "ARN"
    ]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)

    status, body, _ = call(request("grafana", load_event("grafana_unified_firing"), headers=bearer("")))

    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert executions(webhook) == []


def test_an_unreadable_secret_is_a_503(webhook, monkeypatch):
    monkeypatch.setenv(
        "WEBHOOK_SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:missing-AbCdEf"
    )

    status, body, _ = call(request("grafana", load_event("grafana_unified_firing"), headers=bearer()))

    assert (status, body["error"]["code"]) == (503, "unavailable")


def test_an_unconfigured_webhook_is_a_503(webhook, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN")

    status, body, _ = call(request("grafana", load_event("grafana_unified_firing"), headers=bearer()))

    assert (status, body["error"]["code"]) == (503, "unavailable")


def test_a_workflow_out_of_reach_is_a_503_so_the_sender_retries(webhook, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", webhook.machine + "-gone")

    status, body, _ = call(request("grafana", load_event("grafana_unified_firing"), headers=bearer()))

    assert (status, body["error"]["code"]) == (503, "unavailable")


json_bodies = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from(["grafana", "alertmanager"]),
    body=json_bodies,
    alerts=st.lists(json_bodies, max_size=3),
)
def test_client_input_never_gets_a_5xx(webhook, source, body, alerts):
    for payload in (
        body,
        {"alerts": alerts},
        {"alerts": [{"labels": {"alertname": "X"}, "status": a} for a in alerts]},
    ):
        status, response, _ = call(request(source, payload, headers=bearer()))
        assert status < 500, response
