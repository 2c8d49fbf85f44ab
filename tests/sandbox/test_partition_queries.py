"""A DynamoDB query in the sandbox reads only the partition it names, and answers as moto does: the same
items, in the same order, page for page, on the table and on an index."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from sandbox.patches import Patcher, install_partition_queries
from tests.helpers import SandboxPool, moto_client

INDEX = "by-kind"
PARTITIONS = [f"INCIDENT#inc-{number:03}" for number in range(20)]


@pytest.fixture(scope="module")
def dynamodb(sandbox_pool: SandboxPool) -> Iterator[Any]:
    """A table with a range key and an index, its items written in a shuffled order (the tests only read)."""
    sandbox_pool.stop()
    with mock_aws():
        client = moto_client("dynamodb")
        client.create_table(
            TableName="items",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "kind", "opened")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": INDEX,
                    "KeySchema": [
                        {"AttributeName": "kind", "KeyType": "HASH"},
                        {"AttributeName": "opened", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        items = [
            {
                "pk": {"S": partition},
                "sk": {"S": f"EVENT#{event:03}"},
                "kind": {"S": "ec2" if event % 3 else "iam"},
                # Several items share an opening time: the index's order falls back on the table's keys.
                "opened": {"S": f"2026-12-0{event % 4 + 1}"},
                "seen": {"N": str(event)},
            }
            for partition in PARTITIONS
            for event in range(8)
        ]
        random.Random(7).shuffle(items)
        for item in items:
            client.put_item(TableName="items", Item=item)
        yield client


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": PARTITIONS[7]}}},
    {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": PARTITIONS[0]}, ":prefix": {"S": "EVENT#00"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :pk AND sk > :after",
        "FilterExpression": "seen > :seen",
        "ExpressionAttributeValues": {
            ":pk": {"S": PARTITIONS[19]},
            ":after": {"S": "EVENT#002"},
            ":seen": {"N": "5"},
        },
        "Limit": 3,
    },
    {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "INCIDENT#absent"}}},
    {
        "IndexName": INDEX,
        "KeyConditionExpression": "kind = :kind",
        "ExpressionAttributeValues": {":kind": {"S": "iam"}},
        "Limit": 7,
    },
    {
        "IndexName": INDEX,
        "KeyConditionExpression": "kind = :kind AND opened >= :since",
        "ExpressionAttributeValues": {":kind": {"S": "ec2"}, ":since": {"S": "2026-12-03"}},
        "ScanIndexForward": False,
        "Limit": 5,
    },
]


def pages(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of ``query``, following LastEvaluatedKey."""
    answers, start = [], None
    while True:
        page = client.query(TableName="items", **query, **({"ExclusiveStartKey": start} if start else {}))
        answers.append({key: page.get(key) for key in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        start = page.get("LastEvaluatedKey")
        if start is None:
            return answers


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query["KeyConditionExpression"])
def test_a_query_answers_page_for_page_as_moto_does(dynamodb: Any, query: dict[str, Any]):
    expected = pages(dynamodb, query)
    patcher = Patcher()
    install_partition_queries(patcher)
    try:
        assert pages(dynamodb, query) == expected
    finally:
        patcher.restore()


def test_a_query_on_the_table_reads_only_its_partition(dynamodb: Any, monkeypatch: pytest.MonkeyPatch):
    def every_item(table: Table) -> Any:
        raise AssertionError(f"the query read every item of {table.name}")

    monkeypatch.setattr(Table, "all_items", every_item)
    patcher = Patcher()
    install_partition_queries(patcher)
    try:
        got = dynamodb.query(
            TableName="items",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": PARTITIONS[3]}},
        )
    finally:
        patcher.restore()

    assert [item["sk"]["S"] for item in got["Items"]] == [f"EVENT#{event:03}" for event in range(8)]
    assert {item["pk"]["S"] for item in got["Items"]} == {PARTITIONS[3]}
