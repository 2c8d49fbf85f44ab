"""`tourniquet incident list`: incidents from the by-type index, filtered by status, type and since."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import load_event, moto_client
from tourniquet import store
from tourniquet.incidents.dedup import fold
from tourniquet.intake.normalize import normalize_all
from tourniquet_cli.incident_cmd import since_time
from tourniquet_cli.main import app

LIST_TABLE = "tourniquet-list"


@pytest.fixture
def incidents(aws, monkeypatch):
    """Three incidents, as Deduplicate opens them, in a table with the stack's by-type index: an EC2 one
    and an IAM one now, and an EC2 one first seen a month ago (and contained)."""
    moto_client("dynamodb").create_table(
        TableName=LIST_TABLE,
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
    monkeypatch.setenv("TABLE_NAME", LIST_TABLE)
    [ec2] = normalize_all(load_event("guardduty_ec2_finding"))
    [iam] = normalize_all(load_event("guardduty_iam_access_key"))
    old = ec2.model_copy(update={"dedup_key": "an-older-one", "finding_id": "older"})
    opened = {
        name: fold(alert, window_seconds=60, execution_id=name).id
        for name, alert in (("ec2", ec2), ("iam", iam), ("old", old))
    }
    store.update_incident(opened["old"], status="contained", gsi1sk="2026-01-01T00:00:00.000Z")
    return opened


def listed(*args: str) -> list[str]:
    result = CliRunner().invoke(app, ["incident", "list", "--table", LIST_TABLE, "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line)["incident_id"] for line in result.output.splitlines()]


def test_the_list_is_filtered_by_type_status_and_since(incidents):
    ec2_type = "CryptoCurrency:EC2/BitcoinTool.B!DNS"

    assert sorted(listed()) == sorted([incidents["ec2"], incidents["iam"]])
    assert listed("--type", ec2_type) == [incidents["ec2"]]
    assert listed("--type", ec2_type, "--since", "2025-12-01") == [incidents["ec2"], incidents["old"]]
    assert listed("--since", "2025-12-01", "--status", "contained") == [incidents["old"]]
    assert listed("--type", ec2_type, "--since", "2025-12-01", "--status", "open") == [incidents["ec2"]]


def test_since_takes_a_span_or_a_date():
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    assert since_time("7d", now) == "2026-11-30T09:00:00.000Z"
    assert since_time("12h", now) == "2026-12-06T21:00:00.000Z"
    assert since_time("2026-12-01", now) == "2026-12-01T00:00:00.000Z"


def test_a_since_it_cannot_read_is_refused_in_one_line():
    result = CliRunner().invoke(app, ["incident", "list", "--table", LIST_TABLE, "--since", "last week"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --since: expected a span like 7d, 12h, 30m or 2w, or an ISO 8601 date, got 'last week'"
    ]


@pytest.mark.parametrize("command", [["incident", "list"], ["report"]])
def test_a_span_beyond_the_calendar_is_refused_in_one_line(command):
    result = CliRunner().invoke(app, [*command, "--table", LIST_TABLE, "--since", "999999999d"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --since: 999999999d reaches back before the calendar begins"
    ]


def test_a_report_that_cannot_be_written_is_refused_in_one_line(incidents, tmp_path):
    missing = tmp_path / "no-such-dir" / "report.md"

    result = CliRunner().invoke(app, ["report", "--table", LIST_TABLE, "-o", str(missing)])

    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: could not write {missing}: ")


class OneItemPages:
    """The table, answering a page of one item at a time, as DynamoDB does when a page reaches 1 MB."""

    def __init__(self, table: Any) -> None:
        self.table, self.pages = table, 0

    def query(self, **request: Any) -> Any:
        self.pages += 1
        return self.table.query(Limit=1, **request)

    def scan(self, **request: Any) -> Any:
        self.pages += 1
        return self.table.scan(Limit=1, **request)


def test_every_page_of_the_index_is_read(incidents, monkeypatch):
    paged = OneItemPages(store.table())
    monkeypatch.setattr(store, "table", lambda: paged)
    ec2_type = "CryptoCurrency:EC2/BitcoinTool.B!DNS"

    every = [item["incident_id"] for item in store.incidents(since="2025-12-01")]
    scanned = paged.pages
    of_one_type = [
        item["incident_id"] for item in store.incidents(since="2025-12-01", incident_type=ec2_type)
    ]

    assert sorted(every) == sorted(incidents.values())
    assert of_one_type == [incidents["ec2"], incidents["old"]]
    assert scanned >= 3 and paged.pages - scanned >= 2
