"""The diagnose handler against moto; CloudTrail LookupEvents (missing from moto) is stubbed on the client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from tests.handlers.diagnostics import INCIDENT, client_error, event, recorded, trail_event
from tests.helpers import launch_instance, member_client, moto_client
from tourniquet import errors, store
from tourniquet.diagnostics.handler import diagnose


def test_ec2_instance_summarizes_the_instance(aws):
    moto_client("iam").create_instance_profile(InstanceProfileName="web-app-profile")
    lab = launch_instance(tags={"Name": "web-app-1"}, instance_profile="web-app-profile")

    result = diagnose(event("ec2_instance", lab.instance_id), None)

    assert (result["check"], result["status"]) == ("ec2_instance", "ok")
    summary = result["summary"]
    assert summary["instance_id"] == lab.instance_id
    assert summary["state"] == "running"
    assert summary["instance_type"] == "m5.large"
    assert summary["availability_zone"] == "eu-west-1a"
    assert (summary["vpc_id"], summary["subnet_id"]) == (lab.vpc_id, lab.subnet_id)
    assert summary["launch_time"].endswith("Z")
    assert summary["tags"] == {"Name": "web-app-1"}
    assert summary["protected"] is False
    assert summary["iam_instance_profile"] == "arn:aws:iam::123456789012:instance-profile/web-app-profile"
    assert summary["volumes"] == [
        {"volume_id": lab.volume_ids[0], "device": "/dev/sda1", "size_gib": 8, "delete_on_termination": True},
        {"volume_id": lab.volume_ids[1], "device": "/dev/sdf", "size_gib": 20, "delete_on_termination": True},
        {
            "volume_id": lab.volume_ids[2],
            "device": "/dev/sdg",
            "size_gib": 30,
            "delete_on_termination": False,
        },
    ]
    assert [eni["id"] for eni in summary["network_interfaces"]] == list(lab.eni_ids)
    assert all(
        eni["groups"] == [{"id": lab.group_id, "name": "web-app"}] for eni in summary["network_interfaces"]
    )
    assert all(eni["vpc_id"] == lab.vpc_id for eni in summary["network_interfaces"])
    assert summary["status_checks"] == {"instance": "ok", "system": "ok"}


def test_ec2_instance_only_reads_and_its_result_is_recorded_as_it_is(aws):
    lab = launch_instance()

    result = diagnose(event("ec2_instance", lab.instance_id), None)

    assert store.timeline(INCIDENT) == []
    assert recorded(result) == {
        "check": "ec2_instance",
        "status": "ok",
        "summary": result["summary"],
        "started_at": result["started_at"],
        "finished_at": result["finished_at"],
    }
    assert result["started_at"] <= result["finished_at"]


def test_ec2_instance_reports_the_protected_tag(aws):
    lab = launch_instance(tags={"tourniquet:protected": "bastion"})

    assert diagnose(event("ec2_instance", lab.instance_id), None)["summary"]["protected"] is True


def test_ec2_instance_reports_a_missing_instance_as_not_found(aws):
    result = diagnose(event("ec2_instance", "i-0123456789abcdef0"), None)

    assert result["status"] == "not_found"
    assert result["summary"]["instance_id"] == "i-0123456789abcdef0"


def test_ec2_instance_reports_a_malformed_id_as_not_found_without_asking_ec2(aws, monkeypatch):
    monkeypatch.setattr(member_client("ec2", INCIDENT), "describe_instances", _must_not_be_called)

    assert diagnose(event("ec2_instance", "i-../../etc"), None)["status"] == "not_found"


def test_alert_without_an_instance_is_not_applicable(aws):
    result = diagnose(event("ec2_instance", None), None)

    assert result["status"] == "not_applicable"
    assert "no EC2 instance" in result["summary"]["reason"]


def test_an_instance_in_a_region_outside_the_scope_is_not_read(aws):
    request = event("ec2_instance", "i-0123456789abcdef0")
    request["alert"]["resources"][0]["region"] = "ap-south-1"

    result = diagnose(request, None)

    assert result["status"] == "not_applicable"
    assert "ap-south-1 is not a region Tourniquet acts in" in result["summary"]["reason"]


def test_an_instance_in_another_region_of_the_scope_is_read_in_that_region(aws):
    lab = launch_instance(region="us-east-1")
    request = event("ec2_instance", lab.instance_id)
    request["alert"]["resources"][0]["region"] = "us-east-1"

    result = diagnose(request, None)

    assert result["status"] == "ok"
    assert result["summary"]["instance_id"] == lab.instance_id


def test_an_account_outside_the_scope_is_not_read(aws):
    request = event("ec2_instance", "i-0123456789abcdef0")
    request["alert"]["account"] = "999999999999"

    result = diagnose(request, None)

    assert result["status"] == "not_applicable"
    assert "account 999999999999 is outside" in result["summary"]["reason"]


def test_throttled_ec2_becomes_throttled(aws, monkeypatch):
    def throttled(**_: Any) -> None:
        raise client_error("RequestLimitExceeded", "DescribeInstances")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "describe_instances", throttled)

    with pytest.raises(errors.Throttled, match="ec2_instance"):
        diagnose(event("ec2_instance", "i-0123456789abcdef0"), None)


def test_denied_ec2_read_becomes_diagnostic_failed_with_its_code(aws, monkeypatch):
    def denied(**_: Any) -> None:
        raise client_error("UnauthorizedOperation", "DescribeInstances")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "describe_instances", denied)

    with pytest.raises(errors.DiagnosticFailed, match="UnauthorizedOperation") as raised:
        diagnose(event("ec2_instance", "i-0123456789abcdef0"), None)
    assert isinstance(raised.value.__cause__, ClientError)


def lookup_params(instance_id: str, max_results: int, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": instance_id}],
        "StartTime": datetime(2026, 11, 19, 9, 13, 48, tzinfo=UTC),
        "EndTime": ANY,
        "MaxResults": max_results,
    }
    if token:
        params["NextToken"] = token
    return params


def test_cloudtrail_summarizes_the_events_naming_the_instance(aws):
    instance_id = "i-0a1b2c3d4e5f67890"
    first_page = [trail_event("DescribeInstances", minutes) for minutes in range(1, 9)]
    second_page = [
        trail_event("GetPasswordData", 30, ip="203.0.113.9", error="AccessDenied"),
        trail_event("ModifyInstanceAttribute", 45, ip="203.0.113.9", error="UnauthorizedOperation"),
        trail_event("StopInstances", 60, error="AccessDenied"),
        trail_event("RunInstances", 600),
    ]
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response(
            "lookup_events", {"Events": first_page, "NextToken": "page-2"}, lookup_params(instance_id, 50)
        )
        stub.add_response("lookup_events", {"Events": second_page}, lookup_params(instance_id, 42, "page-2"))

        result = diagnose(event("cloudtrail", instance_id), None)

        stub.assert_no_pending_responses()
    summary = result["summary"]
    assert (result["check"], result["status"]) == ("cloudtrail", "ok")
    assert summary["count"] == 12
    assert summary["truncated"] is False
    assert summary["event_names"] == {
        "DescribeInstances": 8,
        "GetPasswordData": 1,
        "ModifyInstanceAttribute": 1,
        "StopInstances": 1,
        "RunInstances": 1,
    }
    assert summary["errors"] == {"AccessDenied": 2, "UnauthorizedOperation": 1}
    assert summary["source_ips"] == ["198.51.100.7", "203.0.113.9"]
    assert summary["users"] == ["mallory"]
    assert summary["first_seen"] == "2026-11-19T23:13:00.000Z"
    assert summary["last_seen"] == "2026-11-20T09:12:00.000Z"
    assert summary["window"]["start"] == "2026-11-19T09:13:48.000Z"
    recent = summary["recent"]
    assert len(recent) == 10
    assert recent[0] == {
        "name": "DescribeInstances",
        "time": "2026-11-20T09:12:00.000Z",
        "user": "mallory",
        "source_ip": "198.51.100.7",
        "error": None,
    }
    assert [e["time"] for e in recent] == sorted((e["time"] for e in recent), reverse=True)
    assert recent[-1]["name"] == "ModifyInstanceAttribute"
    assert recorded(result)["summary"]["count"] == 12


def test_cloudtrail_stops_at_fifty_events_and_says_so(aws):
    instance_id = "i-0a1b2c3d4e5f67890"
    page = [trail_event("DescribeInstances", minutes) for minutes in range(50)]
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response(
            "lookup_events", {"Events": page, "NextToken": "more"}, lookup_params(instance_id, 50)
        )

        result = diagnose(event("cloudtrail", instance_id), None)

        stub.assert_no_pending_responses()
    assert result["summary"]["count"] == 50
    assert result["summary"]["truncated"] is True


def test_cloudtrail_with_no_events_is_an_empty_summary(aws):
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response("lookup_events", {"Events": []}, lookup_params("i-0a1b2c3d4e5f67890", 50))

        summary = diagnose(event("cloudtrail", "i-0a1b2c3d4e5f67890"), None)["summary"]

    assert (summary["count"], summary["first_seen"], summary["last_seen"]) == (0, None, None)
    assert summary["recent"] == []


def test_throttled_cloudtrail_becomes_throttled(aws):
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_client_error("lookup_events", service_error_code="ThrottlingException", http_status_code=400)

        with pytest.raises(errors.Throttled, match="cloudtrail"):
            diagnose(event("cloudtrail", "i-0a1b2c3d4e5f67890"), None)


def test_unknown_check_is_a_diagnostic_failure(aws):
    with pytest.raises(errors.DiagnosticFailed, match="unknown check 'memory_dump'"):
        diagnose(event("memory_dump", "i-0a1b2c3d4e5f67890"), None)


def test_invalid_alert_is_rejected_as_invalid_alert(aws):
    request = event("ec2_instance", "i-0a1b2c3d4e5f67890")
    del request["alert"]["severity"]

    with pytest.raises(errors.InvalidAlert, match=r"alert\.severity"):
        diagnose(request, None)


def _must_not_be_called(**_: Any) -> None:
    raise AssertionError("EC2 must not be asked about a malformed id")
