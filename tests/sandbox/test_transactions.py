"""The sandbox's DynamoDB transactions: each condition checked once, every write or none, as DynamoDB does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sandbox.patches import Patcher, install_transaction_fix
from tests.handlers.conftest import create_table
from tests.helpers import moto_client

TABLE = "transactions"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch, no_sandbox: None) -> Iterator[Any]:
    """moto in process with the sandbox's transactions (moto's state is process-wide: no sandbox runs)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    patcher = Patcher()
    install_transaction_fix(patcher)
    try:
        with mock_aws():
            create_table(TABLE)
            client = moto_client("dynamodb")
            client.put_item(TableName=TABLE, Item=_item("claim", seen="1"))
            yield client
    finally:
        patcher.restore()


def _item(pk: str, **numbers: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "X"}, **{name: {"N": value} for name, value in numbers.items()}}


def _new(pk: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": _item(pk), "ConditionExpression": "attribute_not_exists(pk)"}}


def _claim(seen: str, *, if_seen: str) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": _item("claim", seen=seen),
            "ConditionExpression": "seen = :seen",
            "ExpressionAttributeValues": {":seen": {"N": if_seen}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _stored(client: Any) -> dict[str, str | None]:
    return {item["pk"]["S"]: item.get("seen", {}).get("N") for item in client.scan(TableName=TABLE)["Items"]}


def test_a_transaction_whose_conditions_hold_writes_every_item(dynamodb):
    dynamodb.transact_write_items(TransactItems=[_new("marker"), _claim("2", if_seen="1")])

    assert _stored(dynamodb) == {"claim": "2", "marker": None}


def test_a_failed_condition_writes_nothing_and_names_each_reason_with_the_item_it_saw(dynamodb):
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[_new("marker"), _claim("3", if_seen="2")])

    reasons = raised.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["seen"] == {"N": "1"}
    assert _stored(dynamodb) == {"claim": "1"}


def test_a_write_dynamodb_refuses_takes_back_the_writes_before_it(dynamodb):
    malformed = {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "other"}, "sk": {"S": "X"}},
            "UpdateExpression": "SET seen = seen + :one",  # no such attribute to add to
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }

    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[_new("marker"), _claim("2", if_seen="1"), malformed])

    assert _stored(dynamodb) == {"claim": "1"}


def test_a_condition_check_writes_nothing(dynamodb):
    check = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "claim"}, "sk": {"S": "X"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }

    dynamodb.transact_write_items(TransactItems=[_new("marker"), check])

    assert _stored(dynamodb) == {"claim": "1", "marker": None}
