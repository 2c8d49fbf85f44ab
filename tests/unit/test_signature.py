"""Reading and verifying a Slack interaction request, without AWS: the HTTP API's payload format 2.0 (the
only one deployed), every way a request can be malformed, and the payload model."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from tourniquet.approval.interaction import parse_payload, verify_signature
from tourniquet.approval.slack_request import BadRequest, read_request
from tourniquet.http_api import UnsupportedEvent

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = "payload=" + quote(
    json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "U0APPROVER", "username": "alice"},
            "team": {"id": "T0SANDBOX"},
            "api_app_id": "A0TOURNIQ",
            "container": {"type": "message", "message_ts": "1795331381.000001", "channel_id": "C0INCIDENT"},
            "actions": [{"action_id": "approve", "value": "Zq3v9Xl0a1B2c3D4e5F6gA", "type": "button"}],
        }
    )
)


def _signed_headers(
    body: str | bytes, *, timestamp: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def _v2(
    body: str, headers: dict[str, str] | None, *, base64_body: bool = False, lower: bool = True
) -> dict[str, Any]:
    """HTTP API payload format 2.0: API Gateway sends header names in lower case."""
    return {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "headers": {name.lower() if lower else name: value for name, value in (headers or {}).items()},
        "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}},
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def _v1(body: str, headers: dict[str, str]) -> dict[str, Any]:
    """Payload format 1.0, which no deployed route uses."""
    return {
        "version": "1.0",
        "resource": "/slack/interactions",
        "path": "/slack/interactions",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": body,
        "isBase64Encoded": False,
    }


def _secret() -> str:
    return SECRET


def _verify(event: dict[str, Any]) -> None:
    verify_signature(read_request(event), _secret)


def _status(event: dict[str, Any]) -> int:
    with pytest.raises(BadRequest) as raised:
        _verify(event)
    return raised.value.status


@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_a_correctly_signed_request_is_accepted_as_text_or_base64(base64_body):
    event = _v2(BODY, _signed_headers(BODY), base64_body=base64_body)

    request = read_request(event)
    verify_signature(request, _secret)

    assert request.body == BODY.encode()
    assert parse_payload(request.body).actions[0].value == "Zq3v9Xl0a1B2c3D4e5F6gA"


def test_header_names_are_matched_whatever_their_case():
    signed = _signed_headers(BODY)
    headers = {
        "x-SLACK-request-TIMESTAMP": signed["X-Slack-Request-Timestamp"],
        "X-SLACK-signature": signed["X-Slack-Signature"],
    }

    _verify(_v2(BODY, headers, lower=False))


def test_a_payload_format_1_event_is_not_read_as_a_request():
    with pytest.raises(UnsupportedEvent):
        read_request(_v1(BODY, _signed_headers(BODY)))


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"version": "2.0"},
        {"version": "2.0", "requestContext": {}},
        {"version": "2.0", "requestContext": 1},
    ],
    ids=["empty", "no-context", "no-http", "context-not-an-object"],
)
def test_an_event_that_is_no_http_api_request_is_not_read_as_one(event):
    with pytest.raises(UnsupportedEvent):
        read_request(event)


def test_a_body_that_is_not_utf8_keeps_its_exact_bytes():
    event = _v2("", _signed_headers(BODY))
    event.update(body=base64.b64encode(b"payload=\xff\xfe").decode(), isBase64Encoded=True)

    assert read_request(event).body == b"payload=\xff\xfe"


def test_the_signature_covers_the_raw_bytes_not_a_reencoding():
    # Slack signs the body exactly as sent; a re-encoded form (spaces as %20 instead of +) must not verify.
    body = "payload=%7B%22a%22%3A+1%7D"
    event = _v2(body.replace("+", "%20"), _signed_headers(body))

    assert _status(event) == 401


def test_a_forged_signature_is_rejected():
    assert _status(_v2(BODY, _signed_headers(BODY, secret="not-the-signing-secret"))) == 401


def test_a_tampered_body_is_rejected():
    headers = _signed_headers(BODY)

    assert _status(_v2(BODY.replace("approve", "deny"), headers)) == 401


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_a_timestamp_outside_the_300_second_window_is_rejected(age):
    stale = str(int(time.time()) - age)

    assert _status(_v2(BODY, _signed_headers(BODY, timestamp=stale))) == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "1795331381"},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
    ],
    ids=["none", "no-signature", "no-timestamp", "empty"],
)
def test_missing_headers_are_rejected_without_reading_the_secret(headers):
    def no_secret() -> str:
        raise AssertionError("the secret must not be read for a request without signature headers")

    with pytest.raises(BadRequest) as raised:
        verify_signature(read_request(_v2(BODY, headers)), no_secret)

    assert raised.value.status == 401


def test_an_event_without_headers_is_rejected():
    assert _status(_v2(BODY, None)) == 401


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "\uff11\uff12\uff13", "9" * 5000, " "], ids=str)
def test_a_non_numeric_timestamp_is_a_401_not_a_crash(timestamp):
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "a" * 64}

    assert _status(_v2(BODY, headers)) == 401


def _never_read() -> str:
    raise AssertionError("the signing secret must not be read for headers Slack never sends")


@pytest.mark.parametrize(
    "timestamp",
    ["9" * 400, "-" + "9" * 400, "9" * 4300, "1" + "0" * 30],
    ids=["overflows-a-float", "negative-overflow", "at-the-digit-limit", "thirty-one-digits"],
)
def test_an_absurdly_large_timestamp_is_a_401_without_reading_the_secret(timestamp):
    # int(timestamp) works, but slack-sdk subtracts it from time.time(): OverflowError, a 500 until now.
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "a" * 64}

    with pytest.raises(BadRequest) as raised:
        verify_signature(read_request(_v2(BODY, headers)), _never_read)

    assert raised.value.status == 401


@pytest.mark.parametrize(
    "timestamp",
    ["abc", " 1795331381", "1795331381 ", "+1795331381", "1_795_331_381", "1795331381\n", "\u0661\u0662"],
    ids=[
        "letters",
        "leading-space",
        "trailing-space",
        "plus-sign",
        "underscores",
        "newline",
        "arabic-digits",
    ],
)
def test_a_timestamp_that_is_not_plain_digits_is_a_401_without_reading_the_secret(timestamp):
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "a" * 64}

    with pytest.raises(BadRequest) as raised:
        verify_signature(read_request(_v2(BODY, headers)), _never_read)

    assert raised.value.status == 401


def test_another_spelling_of_a_correctly_signed_timestamp_is_not_slacks():
    # int() reads "1_795_331_381" and " 1795331381"; Slack sends digits only, and so must the request.
    now = str(int(time.time()))
    spelled = " " + now

    assert _status(_v2(BODY, _signed_headers(BODY, timestamp=spelled))) == 401


@pytest.mark.parametrize(
    "signature",
    ["v0=" + "a" * 63, "v0=" + "a" * 65, "v1=" + "a" * 64, "v0=" + "g" * 64, "a" * 67, "v0=" + "A" * 64],
    ids=["short", "long", "other-version", "not-hex", "no-prefix", "upper-case"],
)
def test_a_signature_not_in_slacks_format_is_a_401_without_reading_the_secret(signature):
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": signature}

    with pytest.raises(BadRequest) as raised:
        verify_signature(read_request(_v2(BODY, headers)), _never_read)

    assert raised.value.status == 401


@settings(max_examples=500, deadline=None, database=None)
@given(
    timestamp=st.one_of(
        st.text(max_size=40),
        st.integers().map(str),
        st.builds(lambda sign, digits: sign + "9" * digits, st.sampled_from(["", "-"]), st.integers(1, 5000)),
    ),
    signature=st.one_of(st.text(max_size=80), st.from_regex(r"v0=[0-9a-f]{64}", fullmatch=True)),
    body=st.binary(max_size=200),
)
def test_any_header_text_is_answered_with_a_bad_request_or_verified(timestamp, signature, body):
    event = _v2("", {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)

    with pytest.raises(BadRequest) as raised:
        verify_signature(read_request(event), _secret)

    assert raised.value.status == 401


def test_a_non_ascii_signature_is_a_401_not_a_crash():
    headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é" + "a" * 63}

    assert _status(_v2(BODY, headers)) == 401


def test_a_body_that_is_not_utf8_is_a_401_not_a_crash():
    event = _v2(
        "", {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "a" * 64}
    )
    event.update(body=base64.b64encode(b"payload=\xff\xfe").decode(), isBase64Encoded=True)

    assert _status(event) == 401


def test_a_body_that_is_not_base64_is_a_400():
    event = _v2(BODY, _signed_headers(BODY))
    event.update(body="not base64 !", isBase64Encoded=True)

    assert _status(event) == 400


def test_an_oversized_body_is_refused_before_any_check():
    body = "payload=" + "a" * (1024 * 1024)

    assert _status(_v2(body, _signed_headers(body))) == 413


@pytest.mark.parametrize(
    "body",
    ["", "payload=", "payload=%20", "other=1", "payload=1&payload=2"],
    ids=["empty", "empty-payload", "blank-payload", "no-payload", "two-payloads"],
)
def test_a_missing_payload_is_a_400(body):
    with pytest.raises(BadRequest) as raised:
        parse_payload(body.encode())

    assert raised.value.status == 400


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        json.dumps({"type": "block_actions"}),
        json.dumps({"type": "block_actions", "user": {"id": "not a slack id"}}),
        json.dumps({"type": "block_actions", "user": {"id": "U0APPROVER"}, "actions": [{"value": "x"}]}),
    ],
    ids=["not-json", "not-an-object", "no-user", "bad-user-id", "action-without-id"],
)
def test_a_malformed_payload_is_a_400(payload):
    with pytest.raises(BadRequest) as raised:
        parse_payload(("payload=" + quote(payload)).encode())

    assert raised.value.status == 400


def test_the_payload_model_keeps_only_the_fields_it_needs():
    payload = parse_payload(BODY.encode())

    assert payload.type == "block_actions"
    assert payload.user.id == "U0APPROVER"
    assert payload.team is not None and payload.team.id == "T0SANDBOX"
    assert payload.api_app_id == "A0TOURNIQ"
    assert payload.container is not None
    assert (payload.container.channel_id, payload.container.message_ts) == ("C0INCIDENT", "1795331381.000001")
    assert (payload.actions[0].action_id, payload.actions[0].value) == ("approve", "Zq3v9Xl0a1B2c3D4e5F6gA")
