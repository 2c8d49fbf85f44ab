"""Which channels a report period's report reached: one mark per period and channel, so that a retry of the
scheduled run sends the report only to the channels that did not get it yet.

A mark is the item ``REPORT#<period end>`` / ``SENT#<channel>``, written once (a conditional write: a later
run keeps the first mark) after the channel took the report, and deleted by DynamoDB's TTL
``retention_days`` after the period ended (``expires_at``, epoch seconds).
"""

from __future__ import annotations

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from tourniquet import store
from tourniquet.settings import get_settings

_SK = "SENT#"


def _pk(period_end: str) -> str:
    return f"REPORT#{period_end}"


def channels(period_end: str) -> set[str]:
    """The channels that took the report of the period ending at ``period_end`` (an ISO time)."""
    items = store.table().query(
        KeyConditionExpression=Key("pk").eq(_pk(period_end)) & Key("sk").begins_with(_SK),
        ConsistentRead=True,
    )["Items"]
    return {str(item["channel"]) for item in items}


def mark(period_end: str, channel: str) -> None:
    """``channel`` took the report of the period ending at ``period_end``."""
    try:
        store.table().put_item(
            Item={
                "pk": _pk(period_end),
                "sk": f"{_SK}{channel}",
                "channel": channel,
                "sent_at": store.iso(),
                "expires_at": store.epoch(period_end) + get_settings().retention_seconds,
            },
            ConditionExpression="attribute_not_exists(sk)",
        )
    except ClientError as exc:
        if not store.is_conditional_failure(exc):
            raise
