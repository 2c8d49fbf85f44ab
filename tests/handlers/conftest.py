"""Handler tests run against moto in-process: a fresh account and table per test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import mock_aws
from moto.core.models import RESPONSES_METHODS, CallbackResponse, MockAWS, botocore_stubber, responses_mock

from sandbox.patches import (
    Patcher,
    install_action_names_cache,
    install_atomic_dynamodb_requests,
    install_direct_dynamodb_items,
    install_sns_signing_key,
)
from sandbox.slack import FakeSlack
from tests.handlers.approvals import SlackEnv, running_fake_slack, slack_environment
from tests.helpers import REGION, TABLE, create_deny_all_policy, moto_client
from tourniquet import aws as tourniquet_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, no_sandbox: None) -> Iterator[None]:
    """moto in process. A sandbox left running by other modules is stopped first: moto's state and
    configuration are process-wide, and this mock resets them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Credentials assumed in an earlier test's moto mean nothing (or another account) to this one.
    tourniquet_aws.forget_credentials()
    patcher = Patcher()
    install_action_names_cache(patcher)
    install_sns_signing_key(patcher)
    install_direct_dynamodb_items(patcher)
    patcher.set(MockAWS, "_enable_patching", _enable_patching)
    try:
        with mock_aws():
            create_table(TABLE)
            create_deny_all_policy(moto_client("iam"))
            yield
    finally:
        patcher.restore()


# Any AWS URL, as moto's own last resort matches it.
_AWS_URL = re.compile(r"https?://.+\.amazonaws\.com/.*")


def _enable_patching(self: MockAWS, reset: bool = True) -> None:
    """moto's start, with one callback per HTTP method for a call to AWS through requests, where moto
    registers one per method and service URL pattern (over a thousand, two thirds of this fixture's time).
    Such a call is still answered by moto, which finds the service from the URL again."""
    botocore_stubber.enabled = True
    if reset:
        self.reset()
    responses_mock.start()
    for method in RESPONSES_METHODS:
        responses_mock.add(
            CallbackResponse(method=method, url=_AWS_URL, callback=botocore_stubber.process_prepared_request)
        )


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API, one per module (a module that needs more users overrides it)."""
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    """The handlers' Slack settings pointed at the fake, with its secret in moto."""
    return slack_environment(fake_slack, monkeypatch)


def create_table(name: str) -> None:
    moto_client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def atomic_items() -> Iterator[None]:
    """DynamoDB applies each request atomically; moto answers concurrent requests without a lock, so two
    threads can both pass a condition, or one can copy an item another is changing. The sandbox's patch
    answers one request at a time, leaving the interleaving of this code's reads and writes to the threads."""
    patcher = Patcher()
    install_atomic_dynamodb_requests(patcher)
    try:
        yield
    finally:
        patcher.restore()


@contextmanager
def recording_sfn_calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every Step Functions call the handlers make on this thread, as (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client = tourniquet_aws.client("stepfunctions")
    client.meta.events.register("before-parameter-build.sfn", record)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-parameter-build.sfn", record)


@pytest.fixture
def sfn_calls(aws: None) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    with recording_sfn_calls() as calls:
        yield calls
