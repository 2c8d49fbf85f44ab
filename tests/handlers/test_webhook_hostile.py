"""Hostile webhook bodies against moto: text that is not Unicode, nesting deep enough to break the code
that handles the alerts later, numbers JSON cannot carry, and more alerts than one request may start.

Each gets a 4xx in the usual ``{"error": {"code", "message", "field"}}`` shape, and no execution starts.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from tests.handlers.webhooks import bearer, call, executions, request, webhook_environment
from tourniquet.intake import webhook as webhook_module


@pytest.fixture
def webhook(aws: None, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    return webhook_environment(monkeypatch)


def firing(labels: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    alert = {"status": "firing", "labels": {"alertname": "HighCPU", **(labels or {})}, **fields}
    return {"version": "4", "status": "firing", "receiver": "tourniquet", "alerts": [alert]}


def raw_call(source: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """The body exactly as given, base64-encoded as API Gateway passes bytes that are not text."""
    status, body, _ = call(request(source, raw, headers=bearer(), encode=True))
    return status, body


def assert_refused(ns: Any, status: int, body: dict[str, Any], expected: int, code: str) -> None:
    assert status == expected, body
    assert set(body["error"]) >= {"code", "message", "field"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert executions(ns) == []


# Lone UTF-16 surrogates: valid JSON escapes, but no Unicode text; encoding one later raises.


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"alerts": [{"labels": {"alertname": "CPU\\ud800"}}]}', "alerts[0].labels.alertname"),
        (
            '{"alerts": [{"labels": {"alertname": "CPU", "instance": "\\udfff"}}]}',
            "alerts[0].labels.instance",
        ),
        ('{"alerts": [{"labels": {"alertname": "CPU", "\\ud83d": "x"}}]}', "alerts[0].labels"),
        (
            '{"alerts": [{"labels": {"alertname": "CPU"}, "annotations": {"summary": "\\ud800"}}]}',
            "alerts[0].annotations.summary",
        ),
        ('{"alerts": [{"labels": {"alertname": "CPU"}}], "groupKey": ["\\udc00"]}', "groupKey[0]"),
    ],
    ids=["dedup-label", "resource-label", "label-key", "annotation", "group-field"],
)
@pytest.mark.parametrize("source", ["alertmanager", "grafana"])
def test_a_lone_surrogate_anywhere_is_a_400(webhook, source, body, field):
    status, response, _ = call(request(source, body, headers=bearer()))

    assert_refused(webhook, status, response, 400, "invalid_unicode")
    if field is not None:
        assert response["error"]["field"] == field


def test_a_surrogate_encoded_as_utf8_bytes_is_a_400(webhook):
    # json.loads decodes bytes with "surrogatepass": ED A0 80 becomes a lone surrogate, not an error.
    raw = b'{"alerts": [{"labels": {"alertname": "CPU\xed\xa0\x80"}}]}'

    status, response = raw_call("alertmanager", raw)

    assert_refused(webhook, status, response, 400, "invalid_unicode")


def test_a_body_that_is_not_utf8_is_a_400(webhook):
    status, response = raw_call("alertmanager", b'{"alerts": [{"labels": {"alertname": "CPU\xff"}}]}')

    assert_refused(webhook, status, response, 400, "invalid_json")


def test_a_properly_paired_surrogate_escape_is_ordinary_text(webhook):
    status, response, _ = call(
        request(
            "alertmanager", '{"alerts": [{"labels": {"alertname": "CPU \\ud83d\\udd25"}}]}', headers=bearer()
        )
    )

    assert status == 202, response
    assert len(executions(webhook)) == 1


# Nesting: bounded well below the interpreter's recursion limit, whatever the parser manages.


def nested(depth: int) -> str:
    """An alert whose annotation holds lists nested ``depth`` deep."""
    return json.dumps(firing(annotations={"summary": "x"})).replace('"x"', "[" * depth + "]" * depth)


@pytest.mark.parametrize(
    "depth", [sys.getrecursionlimit() - 60, 200, 40], ids=["near-recursion-limit", "200", "40"]
)
@pytest.mark.parametrize("source", ["alertmanager", "grafana"])
def test_a_deeply_nested_body_is_a_400(webhook, source, depth):
    status, response, _ = call(request(source, nested(depth), headers=bearer()))

    assert_refused(webhook, status, response, 400, "nested_too_deeply")
    assert response["error"]["field"] == "body"
    assert "32" in response["error"]["message"]


def test_a_body_nested_beyond_what_the_parser_can_read_is_a_400(webhook):
    status, response, _ = call(request("grafana", nested(100_000), headers=bearer()))

    assert_refused(webhook, status, response, 400, "nested_too_deeply")


def test_nesting_within_the_bound_is_accepted(webhook):
    status, response, _ = call(request("alertmanager", nested(20), headers=bearer()))

    assert status == 202, response
    assert len(executions(webhook)) == 1


# Numbers: NaN and the infinities are not JSON, and Step Functions refuses them in an execution input.
# Numbers beyond a double's range are refused with them: 1e400 parses as infinity.


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400])
@pytest.mark.parametrize("where", ["label", "annotation", "group"])
def test_a_number_json_cannot_carry_is_a_400_not_a_503(webhook, literal, where):
    payload = json.dumps(firing(annotations={}, **{"extra": 0}))
    if where == "label":
        payload = payload.replace('"alertname": "HighCPU"', f'"alertname": "HighCPU", "value": {literal}')
    elif where == "annotation":
        payload = payload.replace('"annotations": {}', f'"annotations": {{"value": {literal}}}')
    else:
        payload = payload.replace('"version": "4"', f'"version": "4", "groupValue": {literal}')

    status, response, _ = call(request("alertmanager", payload, headers=bearer()))

    assert_refused(webhook, status, response, 400, "invalid_number")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ('"\\ud800"', "invalid_unicode", "body"),
        ("NaN", "invalid_number", "body"),
        ("1e400", "invalid_number", "body"),
        ("[1, NaN]", "invalid_number", "[1]"),
        ('[{"a": ["ok", "\\udfff"]}]', "invalid_unicode", "[0].a[1]"),
    ],
    ids=["text", "nan", "overflow", "in-a-list", "nested"],
)
def test_a_body_that_is_not_an_object_is_checked_too(webhook, body, code, field):
    status, response, _ = call(request("alertmanager", body, headers=bearer()))

    assert_refused(webhook, status, response, 400, code)
    assert response["error"]["field"] == field


def test_the_invalid_numbers_field_is_named(webhook):
    payload = json.dumps(firing()).replace(
        '"status": "firing", "labels"', '"score": NaN, "status": "firing", "labels"'
    )

    status, response, _ = call(request("alertmanager", payload, headers=bearer()))

    assert (status, response["error"]["field"]) == (400, "alerts[0].score")


@pytest.mark.parametrize(
    "change",
    [{"startsAt": 10**400}, {"endsAt": -(10**400)}, {"labels": {"alertname": "X", "value": 10**400}}],
    ids=["starts-at", "ends-at", "label"],
)
def test_an_integer_beyond_a_double_is_a_400(webhook, change):
    payload = firing()
    payload["alerts"][0].update(change)

    status, response, _ = call(request("alertmanager", payload, headers=bearer()))

    assert_refused(webhook, status, response, 400, "invalid_number")


@pytest.mark.parametrize("value", [2**63, -(2**63), 10**308, 1.7976931348623157e308, 5e-324])
def test_numbers_a_double_holds_are_accepted(webhook, value):
    payload = firing(annotations={"value": value})

    status, response, _ = call(request("alertmanager", payload, headers=bearer()))

    assert status == 202, response


# The cap on alerts per request.


def many(count: int) -> dict[str, Any]:
    payload = firing()
    payload["alerts"] = [{"labels": {"alertname": f"A{i}"}} for i in range(count)]
    return payload


@pytest.mark.parametrize("source", ["alertmanager", "grafana"])
def test_more_alerts_than_the_default_cap_is_a_413_with_the_limit(webhook, source):
    status, response, _ = call(request(source, many(101), headers=bearer()))

    assert_refused(webhook, status, response, 413, "too_many_alerts")
    assert response["error"]["field"] == "alerts"
    assert response["error"]["limit"] == 100
    assert "100" in response["error"]["message"]


def test_the_cap_comes_from_the_environment(webhook, monkeypatch):
    monkeypatch.setenv("WEBHOOK_MAX_ALERTS", "3")

    over = call(request("alertmanager", many(4), headers=bearer(), request_id="over"))
    at = call(request("alertmanager", many(3), headers=bearer(), request_id="at"))

    assert (over[0], over[1]["error"]["limit"]) == (413, 3)
    assert at[0] == 202
    assert len(executions(webhook)) == 3


def test_a_body_of_tiny_alerts_can_no_longer_start_thousands_of_executions(webhook):
    payload = {"alerts": [{"labels": {"alertname": "A"}}] * 8000}

    status, response, _ = call(request("alertmanager", payload, headers=bearer()))

    assert_refused(webhook, status, response, 413, "too_many_alerts")


@pytest.mark.parametrize("source", ["alertmanager", "grafana"])
def test_a_body_over_the_cap_is_refused_before_its_alerts_are_read(webhook, monkeypatch, source):
    # Reading 3,000 alerts through (every value checked, each alert split off) costs tens of milliseconds;
    # counting them costs nothing.
    def read(*_: Any) -> Any:
        raise AssertionError("the alerts were read")

    monkeypatch.setattr(webhook_module, "unusable", read)
    monkeypatch.setattr(webhook_module, "webhook_parts", read)
    payload = many(3000)
    payload["alerts"][7]["labels"]["value"] = float("nan")

    status, response, _ = call(request(source, payload, headers=bearer()))

    assert_refused(webhook, status, response, 413, "too_many_alerts")
    assert "3000 alerts" in response["error"]["message"]


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_an_unusable_cap_setting_is_a_503_not_an_open_door(webhook, monkeypatch, value):
    monkeypatch.setenv("WEBHOOK_MAX_ALERTS", value)

    status, response, _ = call(request("alertmanager", many(1), headers=bearer()))

    assert (status, response["error"]["code"]) == (503, "unavailable")
    assert executions(webhook) == []


def test_an_encoded_body_takes_the_same_checks(webhook):
    raw = json.dumps(many(101)).encode()

    status, response = raw_call("grafana", raw)

    assert (status, response["error"]["code"]) == (413, "too_many_alerts")
