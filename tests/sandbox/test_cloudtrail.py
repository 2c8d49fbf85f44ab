"""CloudTrail LookupEvents, which moto lacks, answered from the events the sandbox seeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from sandbox.cloudtrail import TrailEvent

NOW = datetime.now(UTC).replace(microsecond=0)


def event(name, minutes_ago, *, username="alice", resources=()):
    return TrailEvent(
        event_name=name,
        event_source="ec2.amazonaws.com",
        event_time=NOW - timedelta(minutes=minutes_ago),
        username=username,
        access_key_id="AKIAEXAMPLE",
        resources=resources,
        record={"sourceIPAddress": "198.51.100.23"},
    )


@pytest.fixture
def trail(sandbox):
    sandbox.trail.clear()
    sandbox.trail.add(
        [
            event("RunInstances", 30, resources=(("AWS::EC2::Instance", "i-1"),)),
            event("StopInstances", 20, resources=(("AWS::EC2::Instance", "i-2"),)),
            event("CreateTags", 10, resources=(("AWS::EC2::Instance", "i-1"),)),
            event("GetCallerIdentity", 5, username="i-1"),
        ]
    )
    yield sandbox.client("cloudtrail")
    sandbox.trail.clear()


def lookup(client, key, value, **extra):
    return client.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **extra)


def test_lookup_by_resource_name_returns_only_that_resources_events_newest_first(trail):
    response = lookup(trail, "ResourceName", "i-1")

    assert [e["EventName"] for e in response["Events"]] == ["CreateTags", "RunInstances"]
    first = response["Events"][0]
    assert first["Resources"] == [{"ResourceType": "AWS::EC2::Instance", "ResourceName": "i-1"}]
    assert first["EventTime"] == NOW - timedelta(minutes=10)
    record = json.loads(first["CloudTrailEvent"])
    assert record["eventName"] == "CreateTags"
    assert record["sourceIPAddress"] == "198.51.100.23"


def test_lookup_filters_by_username_and_time_range(trail):
    by_user = lookup(trail, "Username", "i-1")
    in_range = trail.lookup_events(StartTime=NOW - timedelta(minutes=25), EndTime=NOW - timedelta(minutes=8))

    assert [e["EventName"] for e in by_user["Events"]] == ["GetCallerIdentity"]
    assert [e["EventName"] for e in in_range["Events"]] == ["CreateTags", "StopInstances"]


def test_results_are_paged_with_max_results_and_next_token(trail):
    pages = list(trail.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 3}))

    assert [len(page["Events"]) for page in pages] == [3, 1]
    assert "NextToken" in pages[0]


def test_invalid_lookups_fail_as_cloudtrail_does(trail):
    with pytest.raises(ClientError) as two:
        trail.lookup_events(
            LookupAttributes=[
                {"AttributeKey": "Username", "AttributeValue": "a"},
                {"AttributeKey": "EventName", "AttributeValue": "b"},
            ]
        )
    with pytest.raises(ClientError) as inverted:
        trail.lookup_events(StartTime=NOW, EndTime=NOW - timedelta(hours=1))

    assert two.value.response["Error"]["Code"] == "InvalidLookupAttributesException"
    assert inverted.value.response["Error"]["Code"] == "InvalidTimeRangeException"
