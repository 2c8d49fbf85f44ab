"""`tourniquet report` on a busy week: how long reading and summing up ``--incidents`` incidents takes.

    python -m benchmarks.report [--incidents N]

An embedded DynamoDB (moto, in this process) holds the stack's table with its by-type index and N incidents
(100), each with the twelve timeline events of a contained incident that waited for approval. Prints the time
to read them (one scan of the index, one query per timeline), to sum them up, and to render Markdown and the
HTML file, with the HTML's size. moto answers in this process and reads its whole table for every query (its
time grows with the table, DynamoDB's does not), so the reads compare changes of this code, not DynamoDB.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from datetime import datetime, timedelta

from moto import mock_aws

from tourniquet import store
from tourniquet.reports import markdown, summary
from tourniquet_cli import report_html

INCIDENTS = 100
TABLE = "tourniquet-report-benchmark"
TYPES = ("Backdoor:EC2/C&CActivity.B", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "UnauthorizedAccess:IAMUser")


def create_table() -> None:
    import boto3  # noqa: PLC0415 - inside the mock

    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": store.INCIDENTS_BY_TYPE_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def later(opened: datetime, seconds: float) -> str:
    return store.iso(opened + timedelta(seconds=seconds))


def seed(count: int) -> None:
    now = store.now()
    with store.table().batch_writer() as batch:
        for n in range(count):
            opened = now - timedelta(minutes=10 * n + 5)
            kind = TYPES[n % len(TYPES)]
            at = functools.partial(later, opened)
            incident_id = f"inc-{n:06d}"
            batch.put_item(
                Item={
                    "pk": store.incident_pk(incident_id),
                    "sk": store.INCIDENT_SK,
                    "incident_id": incident_id,
                    "status": "contained" if n % 4 else "denied",
                    "type": kind,
                    "first_seen": at(0),
                    "alert": {"resources": [{"type": "AwsEc2Instance", "id": f"i-{n % 37:017x}"}]},
                    "gsi1pk": f"TYPE#{kind}",
                    "gsi1sk": at(0),
                }
            )
            diagnostics = [
                {"check": check, "status": "ok", "started_at": at(0.2), "finished_at": at(0.3 + i / 10)}
                for i, check in enumerate(("ec2_instance", "cloudtrail", "iam_principal", "health"))
            ]
            events = [
                store.event_item(incident_id, "opened", at=at(0)),
                store.event_item(incident_id, "planned", at=at(1), diagnostics=diagnostics),
                *(
                    store.event_item(
                        incident_id, "action", at=at(1.5 + i / 10), mode="auto", status="done", verified=True
                    )
                    for i in range(5)
                ),
                store.event_item(incident_id, "approval_requested", at=at(3), posted=True),
                store.event_item(
                    incident_id, "decision", at=at(30 + n % 90), decision="approve", approvers=["U0ALICE"]
                ),
                store.event_item(
                    incident_id, "action", at=at(31 + n % 90), mode="approval", status="done", verified=True
                ),
                store.event_item(incident_id, "outcome", at=at(32 + n % 90), status="contained"),
                store.event_item(incident_id, "duplicate", at=at(40 + n % 90)),
            ]
            for event in events:
                batch.put_item(Item=event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=INCIDENTS)
    count = parser.parse_args().incidents
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "TABLE_NAME": TABLE,
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        create_table()
        seed(count)
        now = store.now()
        since, until = store.iso(now - timedelta(days=7)), store.iso(now)
        began = time.perf_counter()
        incidents = list(summary.read(since))
        read = time.perf_counter() - began
        began = time.perf_counter()
        found = summary.summarize(incidents, since, until)
        summed = time.perf_counter() - began
        began = time.perf_counter()
        markdown.render(found)
        as_markdown = time.perf_counter() - began
        began = time.perf_counter()
        html = report_html.render(found, incidents)
        as_html = time.perf_counter() - began
    print(f"report of {len(incidents)} incidents ({count} seeded, one week)")
    per_query = read / max(len(incidents), 1) * 1000
    print(f"  read (1 index scan, {len(incidents)} timeline queries): {read:.2f} s")
    print(f"    {per_query:.0f} ms a query")
    print(f"  summary: {summed * 1000:.1f} ms; markdown: {as_markdown * 1000:.1f} ms")
    print(f"  html: {as_html * 1000:.1f} ms, {len(html.encode()) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
