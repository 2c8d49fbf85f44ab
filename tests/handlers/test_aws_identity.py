"""The client factory never hands one caller's clients or assumed sessions to a caller with other credentials
(several functions share one process in the sandbox, each with its own role's credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from tests.helpers import TEST_SCOPE, moto_client
from tourniquet import aws as tourniquet_aws


def _credentials(role: str) -> dict[str, str]:
    assumed = moto_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName="function"
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
        "AWS_SESSION_TOKEN": assumed["SessionToken"],
    }


def _signer(client: Any) -> str:
    return str(client._request_signer._credentials.get_frozen_credentials().access_key)


@pytest.fixture
def assume_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The access key that signed each AssumeRole call, in order."""
    signed: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name == "AssumeRole":
            signed.append(_signer(self))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    yield signed


def test_a_session_assumed_for_one_caller_is_not_reused_by_another(aws, monkeypatch, assume_calls):
    contain, release = _credentials("Tourniquet-Contain"), _credentials("Tourniquet-Release")
    assume_calls.clear()

    for credentials in (contain, release, contain):
        for name, value in credentials.items():
            monkeypatch.setenv(name, value)
        with tourniquet_aws.acting_in(TEST_SCOPE, incident_id="inc-shared", purpose="contain"):
            tourniquet_aws.client("ec2").describe_instances()

    # Each caller assumed the member role itself, once; the first caller's session was kept for it.
    assert assume_calls == [contain["AWS_ACCESS_KEY_ID"], release["AWS_ACCESS_KEY_ID"]]


def test_a_hub_client_is_made_for_the_credentials_of_its_caller(aws, monkeypatch):
    clients = []
    for credentials in (_credentials("Tourniquet-Normalize"), _credentials("Tourniquet-Notify")):
        for name, value in credentials.items():
            monkeypatch.setenv(name, value)
        clients.append((credentials["AWS_ACCESS_KEY_ID"], tourniquet_aws.client("dynamodb")))

    assert [_signer(client) for _, client in clients] == [key for key, _ in clients]


def test_forgetting_credentials_drops_the_member_clients_and_keeps_the_hubs(aws, assume_calls):
    def clients() -> tuple[Any, Any]:
        with tourniquet_aws.acting_in(TEST_SCOPE, incident_id="inc-forget", purpose="contain"):
            return tourniquet_aws.client("ec2"), tourniquet_aws.client("dynamodb")

    member, hub = clients()
    tourniquet_aws.forget_credentials()
    member_again, hub_again = clients()

    # The member role is assumed afresh, for a client of its own; the hub's credentials never changed.
    assert len(assume_calls) == 2
    assert member_again is not member
    assert hub_again is hub
