"""DynamoDB answers that carry items are written as they are, without moto's model-driven serializer, and
every attribute type reads back unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.core.serialize import ResponseSerializer

from sandbox.patches import Patcher, install_direct_dynamodb_items
from tests.handlers.conftest import create_table
from tests.helpers import moto_client

ITEM: dict[str, Any] = {
    "pk": {"S": "INCIDENT#inc-1"},
    "sk": {"S": "EVENT#0001"},
    "count": {"N": "1.50"},
    "digest": {"B": b"\x00\xffdigest"},
    "verified": {"BOOL": True},
    "reason": {"NULL": True},
    "detail": {"M": {"lines": {"L": [{"S": "é \u2028 <b>"}, {"N": "3"}]}}},
    "actions": {"SS": ["isolate", "snapshot"]},
    "ports": {"NS": ["22", "443"]},
    "blobs": {"BS": [b"a", b"\x01"]},
}
KEY = {"pk": ITEM["pk"], "sk": ITEM["sk"]}


@pytest.fixture
def serialized(no_sandbox: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """What moto's serializer wrote, for each operation."""
    written: list[tuple[str, Any]] = []
    original = ResponseSerializer.serialize

    def serialize(self: ResponseSerializer, result: Any) -> Any:
        written.append((str(self.operation_model.name), result))
        return original(self, result)

    monkeypatch.setattr(ResponseSerializer, "serialize", serialize)
    patcher = Patcher()
    install_direct_dynamodb_items(patcher)
    try:
        with mock_aws():
            create_table("items")
            moto_client("dynamodb").put_item(TableName="items", Item=ITEM)
            written.clear()
            yield written
    finally:
        patcher.restore()


def test_every_attribute_type_reads_back_unchanged_without_the_serializer(serialized: list[tuple[str, Any]]):
    dynamodb = moto_client("dynamodb")

    got = dynamodb.get_item(TableName="items", Key=KEY)["Item"]
    queried = dynamodb.query(
        TableName="items",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": ITEM["pk"]},
        ReturnConsumedCapacity="TOTAL",
    )
    scanned = dynamodb.scan(TableName="items")["Items"]
    batch = dynamodb.batch_get_item(RequestItems={"items": {"Keys": [KEY]}})["Responses"]["items"]
    missing = dynamodb.get_item(TableName="items", Key={**KEY, "sk": {"S": "EVENT#none"}})

    assert got == queried["Items"][0] == scanned[0] == batch[0] == ITEM
    assert queried["Count"] == 1
    assert queried["ConsumedCapacity"]["TableName"] == "items"
    assert "Item" not in missing
    # The serializer wrote only empty answers, for each operation's status and headers: never an item.
    assert serialized == [
        (operation, {}) for operation in ("GetItem", "Query", "Scan", "BatchGetItem", "GetItem")
    ]
