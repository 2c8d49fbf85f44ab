"""DynamoDB transactions in the sandbox keep their all-or-nothing promise while backing up only the items
they name (moto would copy every table the transaction names)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.core import Sandbox

_tables = itertools.count(1)


def _table(sandbox: Sandbox, *, with_range: bool) -> tuple[Any, str]:
    dynamodb = sandbox.client("dynamodb")
    name = f"transactions-{next(_tables)}"
    keys = [("pk", "HASH"), ("sk", "RANGE")] if with_range else [("pk", "HASH")]
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb, name


def _key(pk: str, with_range: bool) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "ITEM"}} if with_range else {"pk": {"S": pk}}


def _items(dynamodb: Any, name: str) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]}


@pytest.mark.parametrize("with_range", [True, False], ids=["hash-and-range", "hash-only"])
def test_a_cancelled_transaction_leaves_every_item_it_names_as_it_was(sandbox: Sandbox, with_range: bool):
    dynamodb, name = _table(sandbox, with_range=with_range)
    for pk in ("kept", "deleted"):
        dynamodb.put_item(TableName=name, Item=_key(pk, with_range) | {"n": {"N": "1"}})
    before = _items(dynamodb, name)

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": name,
                        "Key": _key("kept", with_range),
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": name, "Key": _key("deleted", with_range)}},
                {"Put": {"TableName": name, "Item": _key("new", with_range)}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": _key("absent", with_range),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(dynamodb, name) == before


def test_a_transaction_that_holds_applies_every_write(sandbox: Sandbox):
    dynamodb, name = _table(sandbox, with_range=True)
    dynamodb.put_item(TableName=name, Item=_key("old", True))

    dynamodb.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": name, "Key": _key("old", True)}},
            {
                "Put": {
                    "TableName": name,
                    "Item": _key("new", True),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )

    assert set(_items(dynamodb, name)) == {"new"}
