"""CloudTrail lookup window and summary, without AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tourniquet.diagnostics import cloudtrail

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def raw_event(name: str, at: datetime, record: Any = None, **fields: Any) -> dict[str, Any]:
    document = record if isinstance(record, str) else json.dumps(record or {})
    return {"EventName": name, "EventTime": at, "CloudTrailEvent": document, **fields}


def test_window_starts_a_day_before_the_alert_and_ends_now():
    span = cloudtrail.window("2026-11-20T09:13:48Z", NOW)

    assert span.start == datetime(2026, 11, 19, 9, 13, 48, tzinfo=UTC)
    assert span.end == NOW


def test_window_of_a_future_alert_time_starts_a_day_before_now():
    assert cloudtrail.window("2027-01-01T00:00:00Z", NOW).start == NOW - timedelta(hours=24)


def test_window_of_an_unreadable_alert_time_starts_a_day_before_now():
    assert cloudtrail.window("yesterday-ish", NOW).start == NOW - timedelta(hours=24)


def test_window_reads_a_time_without_zone_as_utc():
    assert cloudtrail.window("2026-11-20T09:00:00", NOW).start == datetime(2026, 11, 19, 9, 0, tzinfo=UTC)


def test_summary_counts_names_errors_and_addresses():
    events = [
        raw_event(
            "StopInstances",
            NOW - timedelta(minutes=1),
            {"sourceIPAddress": "203.0.113.9", "errorCode": "AccessDenied"},
        ),
        raw_event(
            "StopInstances",
            NOW - timedelta(minutes=2),
            {"sourceIPAddress": "203.0.113.9", "errorCode": "AccessDenied"},
        ),
        raw_event("DescribeInstances", NOW - timedelta(minutes=3), {"sourceIPAddress": "ec2.amazonaws.com"}),
    ]

    summary = cloudtrail.summarize(events, cloudtrail.window("2026-11-20T09:00:00Z", NOW), truncated=False)

    assert summary["count"] == 3
    assert summary["event_names"] == {"StopInstances": 2, "DescribeInstances": 1}
    assert summary["errors"] == {"AccessDenied": 2}
    assert summary["source_ips"] == ["203.0.113.9", "ec2.amazonaws.com"]
    assert summary["first_seen"] == "2026-11-20T09:57:00.000Z"
    assert summary["last_seen"] == "2026-11-20T09:59:00.000Z"


def test_summary_keeps_the_ten_most_recent_newest_first():
    events = [raw_event(f"Call{i}", NOW - timedelta(minutes=i)) for i in range(15)]

    recent = cloudtrail.summarize(events, cloudtrail.window("", NOW), truncated=True)["recent"]

    assert [e["name"] for e in recent] == [f"Call{i}" for i in range(10)]


def test_summary_takes_the_user_from_the_identity_when_the_event_has_no_user_name():
    events = [
        raw_event("GetCallerIdentity", NOW, {"userIdentity": {"arn": "arn:aws:sts::1:assumed-role/r/s"}})
    ]

    [event] = cloudtrail.summarize(events, cloudtrail.window("", NOW), truncated=False)["recent"]

    assert event["user"] == "arn:aws:sts::1:assumed-role/r/s"


def test_summary_tolerates_an_unreadable_cloudtrail_record():
    events = [raw_event("StartInstances", NOW, "{not json"), raw_event("StopInstances", NOW, "[1, 2]")]

    summary = cloudtrail.summarize(events, cloudtrail.window("", NOW), truncated=False)

    assert summary["count"] == 2
    assert summary["source_ips"] == []
    assert summary["errors"] == {}


def test_summary_bounds_caller_chosen_text():
    events = [raw_event("PutObject", NOW, {"sourceIPAddress": "x" * 5000}, Username="u" * 5000)]

    [event] = cloudtrail.summarize(events, cloudtrail.window("", NOW), truncated=False)["recent"]

    assert len(event["source_ip"]) == 256
    assert len(event["user"]) == 256


def test_summary_of_nothing_is_empty():
    summary = cloudtrail.summarize([], cloudtrail.window("", NOW), truncated=False)

    assert summary["count"] == 0
    assert summary["recent"] == []
    assert (summary["first_seen"], summary["last_seen"]) == (None, None)


def _tagging(name: str, at: datetime, keys: list[str], **record: Any) -> dict[str, Any]:
    parameters = {
        "resourcesSet": {"items": [{"resourceId": "i-1"}]},
        "tagSet": {"items": [{"key": k} for k in keys]},
    }
    return raw_event(name, at, {"requestParameters": parameters, **record}, Username="mallory")


def test_tag_changes_lists_who_added_or_removed_the_protected_tag_before_the_finding_newest_first():
    events = [
        _tagging("CreateTags", NOW - timedelta(hours=3), ["tourniquet:protected"]),
        _tagging("DeleteTags", NOW - timedelta(hours=5), ["tourniquet:protected", "Name"]),
        _tagging("CreateTags", NOW - timedelta(hours=1), ["Name"]),
        _tagging("CreateTags", NOW - timedelta(hours=2), ["tourniquet:protected"], errorCode="AccessDenied"),
        _tagging("CreateTags", NOW + timedelta(minutes=5), ["tourniquet:protected"]),
    ]

    changes = cloudtrail.tag_changes(events, "tourniquet:protected", NOW)

    assert changes == [
        {"change": "added", "at": "2026-11-20T07:00:00.000Z", "by": "mallory"},
        {"change": "removed", "at": "2026-11-20T05:00:00.000Z", "by": "mallory"},
    ]


def test_tag_changes_tolerates_records_without_tags():
    events = [
        raw_event("CreateTags", NOW, "{not json"),
        raw_event("CreateTags", NOW, {"requestParameters": []}),
    ]

    assert cloudtrail.tag_changes(events, "tourniquet:protected", NOW) == []


def test_window_reaches_further_back_when_asked():
    span = cloudtrail.window("2026-11-20T09:00:00Z", NOW, timedelta(hours=72))

    assert span.start == datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
