"""The handler tests' moto answers each DynamoDB request whole, as DynamoDB applies each one atomically:
the tests that race two approvers or two alerts rest on it."""

from __future__ import annotations

import threading

from tests.helpers import TABLE, moto_client

_THREADS = 4
_UPDATES = 40
_SEED = 300


def test_concurrent_updates_of_one_item_all_land_without_an_error(aws, atomic_items):
    dynamodb = moto_client("dynamodb")
    key = {"pk": {"S": "ITEM"}, "sk": {"S": "ITEM"}}
    # A large item takes long to copy, which widens the window for another request to change it.
    dynamodb.put_item(TableName=TABLE, Item=key | {f"seed{n}": {"S": "x"} for n in range(_SEED)})
    start = threading.Barrier(_THREADS)
    errors: list[BaseException] = []

    def update(worker: int) -> None:
        client = moto_client("dynamodb")
        start.wait()
        for number in range(_UPDATES):
            try:
                # Each update adds an attribute: the item grows while other requests read and copy it.
                client.update_item(
                    TableName=TABLE,
                    Key=key,
                    UpdateExpression="SET #name = :value",
                    ExpressionAttributeNames={"#name": f"a{worker}_{number}"},
                    ExpressionAttributeValues={":value": {"N": str(number)}},
                )
            except BaseException as exc:  # counted by the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=update, args=(worker,)) for worker in range(_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    item = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    assert len(item) == 2 + _SEED + _THREADS * _UPDATES
