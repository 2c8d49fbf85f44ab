"""The handler tests' moto: a call to AWS through requests is answered by moto, never sent, while moto
starts with one requests callback per HTTP method instead of one per method and service pattern."""

from __future__ import annotations

import requests
from moto.core.models import RESPONSES_METHODS, responses_mock

from tests.helpers import TABLE

_SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20261207/eu-west-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)


def test_a_call_to_aws_through_requests_is_answered_by_moto(aws):
    answer = requests.post(
        "https://dynamodb.eu-west-1.amazonaws.com/",
        data="{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": _SIGNED,
        },
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.json()["TableNames"] == [TABLE]


def test_moto_starts_with_one_requests_callback_per_method(aws):
    assert len(responses_mock.registered()) == len(RESPONSES_METHODS)
