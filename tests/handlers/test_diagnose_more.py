"""The cloudtrail_actor, iam_principal, health and api_rate diagnostics against moto.

CloudTrail LookupEvents and AWS Health are missing from moto, so they are stubbed on the client.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from tests.handlers.diagnostics import INCIDENT, alert, recorded, trail_event
from tests.helpers import REGION, launch_instance, member_client, moto_client
from tourniquet import errors, store
from tourniquet.diagnostics.handler import diagnose
from tourniquet.intake.model import Actor, Resource

INSTANCE = "i-0a1b2c3d4e5f67890"
ANY_LOOKUP = {"LookupAttributes": ANY, "StartTime": ANY, "EndTime": ANY, "MaxResults": 50}
KEY = "AKIAIOSFODNN7EXAMPLE"


def request(check: str, resources: tuple[Resource, ...] = (), **changes: Any) -> dict[str, Any]:
    made = alert(None, **changes)
    made["resources"] = [resource.model_dump(mode="json") for resource in resources]
    return {"check": check, "incident_id": INCIDENT, "alert": made}


def actor(**fields: Any) -> dict[str, Any]:
    return Actor(**fields).model_dump(mode="json")


# cloudtrail_actor


def actor_lookup(attribute: str, value: str) -> dict[str, Any]:
    return {
        "LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}],
        "StartTime": datetime(2026, 11, 19, 9, 13, 48, tzinfo=UTC),
        "EndTime": ANY,
        "MaxResults": 50,
    }


def test_cloudtrail_actor_looks_up_the_access_key_first(aws):
    events = [
        trail_event("ListBuckets", 5, ip="203.0.113.9"),
        trail_event("GetCallerIdentity", 9, ip="203.0.113.9", error="AccessDenied"),
    ]
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response("lookup_events", {"Events": events}, actor_lookup("AccessKeyId", KEY))

        result = diagnose(
            request("cloudtrail_actor", actor=actor(user_name="mallory", access_key_id=KEY)), None
        )

        stub.assert_no_pending_responses()
    summary = result["summary"]
    assert (result["check"], result["status"]) == ("cloudtrail_actor", "ok")
    assert summary["actor"] == {"attribute": "AccessKeyId", "value": KEY}
    assert summary["count"] == 2
    assert summary["event_names"] == {"ListBuckets": 1, "GetCallerIdentity": 1}
    assert summary["errors"] == {"AccessDenied": 1}
    assert summary["source_ips"] == ["203.0.113.9"]
    assert (summary["first_seen"], summary["last_seen"]) == (
        "2026-11-20T09:04:00.000Z",
        "2026-11-20T09:08:00.000Z",
    )
    assert summary["headline"] == "2 events (ListBuckets, GetCallerIdentity), 1 errors, 1 source IPs"
    assert recorded(result) == {
        "check": "cloudtrail_actor",
        "status": "ok",
        "summary": summary,
        "started_at": result["started_at"],
        "finished_at": result["finished_at"],
    }
    assert result["started_at"] <= result["finished_at"]


def test_cloudtrail_actor_falls_back_to_the_user_name(aws):
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response("lookup_events", {"Events": []}, actor_lookup("Username", "mallory"))

        result = diagnose(request("cloudtrail_actor", actor=actor(user_name="mallory")), None)

        stub.assert_no_pending_responses()
    assert result["summary"]["actor"] == {"attribute": "Username", "value": "mallory"}
    assert result["summary"]["headline"] == "0 events in the window"


def test_cloudtrail_actor_without_an_actor_is_not_applicable(aws):
    result = diagnose(request("cloudtrail_actor", actor=actor(ip="203.0.113.9")), None)

    assert result["status"] == "not_applicable"
    assert "no actor" in result["summary"]["headline"]


def test_throttled_cloudtrail_actor_becomes_throttled(aws):
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_client_error("lookup_events", service_error_code="ThrottlingException", http_status_code=400)

        with pytest.raises(errors.Throttled, match="cloudtrail_actor"):
            diagnose(request("cloudtrail_actor", actor=actor(access_key_id=KEY)), None)


# iam_principal


POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}'


def managed_policy(name: str) -> str:
    """A customer managed policy (moto does not load the AWS managed ones)."""
    return str(moto_client("iam").create_policy(PolicyName=name, PolicyDocument=POLICY)["Policy"]["Arn"])


def make_user(name: str = "mallory", *, tags: dict[str, str] | None = None) -> tuple[str, str]:
    iam = moto_client("iam")
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    used = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    spare = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=name, AccessKeyId=spare, Status="Inactive")
    return used, spare


def test_iam_principal_profiles_the_actor_user(aws):
    iam = moto_client("iam")
    key, spare = make_user(tags={"team": "payments"})
    iam.create_login_profile(UserName="mallory", Password="Correct-Horse-9!")
    iam.create_virtual_mfa_device(VirtualMFADeviceName="mallory-mfa")
    serial = "arn:aws:iam::123456789012:mfa/mallory-mfa"
    iam.enable_mfa_device(
        UserName="mallory", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    read_only = managed_policy("read-only")
    iam.attach_user_policy(UserName="mallory", PolicyArn=read_only)
    iam.put_user_policy(UserName="mallory", PolicyName="s3-extra", PolicyDocument=POLICY)
    iam.create_group(GroupName="developers")
    iam.add_user_to_group(GroupName="developers", UserName="mallory")

    result = diagnose(
        request(
            "iam_principal", actor=actor(user_name="mallory", principal_type="IAMUser", access_key_id=key)
        ),
        None,
    )

    summary = result["summary"]
    assert (result["check"], result["status"]) == ("iam_principal", "ok")
    assert (summary["kind"], summary["name"], summary["source"]) == ("user", "mallory", "alert actor")
    assert summary["arn"] == "arn:aws:iam::123456789012:user/mallory"
    assert summary["console_access"] is True
    assert summary["mfa_devices"] == [serial]
    assert summary["attached_policies"] == [read_only]
    assert summary["inline_policies"] == ["s3-extra"]
    assert summary["groups"] == ["developers"]
    assert summary["tags"] == {"team": "payments"}
    assert summary["protected"] is False
    keys = {k["access_key_id"]: k for k in summary["access_keys"]}
    assert set(keys) == {key, spare}
    assert (keys[key]["status"], keys[spare]["status"]) == ("Active", "Inactive")
    assert all(k["age_days"] == 0 and k["created"].endswith("Z") for k in keys.values())
    assert summary["headline"] == "user mallory, 2 policies, 1 active keys, MFA, console"
    assert recorded(result)["summary"] == summary


def test_iam_principal_reports_no_console_no_mfa_and_protection(aws):
    make_user(tags={"tourniquet:protected": "break-glass"})

    summary = diagnose(request("iam_principal", actor=actor(user_name="mallory")), None)["summary"]

    assert summary["console_access"] is False
    assert summary["mfa_devices"] == []
    assert summary["protected"] is True
    assert summary["headline"].endswith("no MFA, no console, protected")


def test_iam_principal_reads_the_access_key_owner_from_the_resource(aws):
    key, _ = make_user()
    owner = Resource(type="AwsIamAccessKey", id=key, details={"user_name": "mallory", "user_type": "IAMUser"})

    summary = diagnose(request("iam_principal", resources=(owner,)), None)["summary"]

    assert (summary["kind"], summary["name"], summary["source"]) == ("user", "mallory", "access key owner")


def make_role(name: str = "web-app", *, tags: dict[str, str] | None = None) -> None:
    iam = moto_client("iam")
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=POLICY,
        MaxSessionDuration=7200,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    iam.attach_role_policy(RoleName=name, PolicyArn=managed_policy("s3-read"))
    iam.put_role_policy(RoleName=name, PolicyName="queue", PolicyDocument=POLICY)


def test_iam_principal_profiles_an_assumed_role(aws):
    make_role(tags={"tourniquet:protected": "deploy"})
    assumed = actor(
        principal="arn:aws:sts::123456789012:assumed-role/web-app/i-0a1b2c3d4e5f67890",
        principal_type="AssumedRole",
        access_key_id="ASIAIOSFODNN7EXAMPLE",
    )

    result = diagnose(request("iam_principal", actor=assumed), None)

    summary = result["summary"]
    assert result["status"] == "ok"
    assert (summary["kind"], summary["name"], summary["source"]) == (
        "role",
        "web-app",
        "alert actor (assumed role)",
    )
    assert summary["max_session_duration"] == 7200
    assert summary["attached_policies"] == ["arn:aws:iam::123456789012:policy/s3-read"]
    assert summary["inline_policies"] == ["queue"]
    assert summary["tags"] == {"tourniquet:protected": "deploy"}
    assert summary["protected"] is True
    assert summary["headline"].startswith("role web-app, 2 policies, last used ")


def test_iam_principal_follows_the_instance_profile_to_its_role(aws):
    make_role()
    iam = moto_client("iam")
    iam.create_instance_profile(InstanceProfileName="web-app-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="web-app-profile", RoleName="web-app")
    instance = Resource(
        type="AwsEc2Instance",
        id=INSTANCE,
        region=REGION,
        details={"instance_profile": "arn:aws:iam::123456789012:instance-profile/web-app-profile"},
    )

    summary = diagnose(request("iam_principal", resources=(instance,)), None)["summary"]

    assert (summary["kind"], summary["name"], summary["source"]) == ("role", "web-app", "instance profile")


def test_iam_principal_missing_user_is_not_found(aws):
    result = diagnose(
        request("iam_principal", actor=actor(user_name="ghost", principal_type="IAMUser")), None
    )

    assert result["status"] == "not_found"
    assert (result["summary"]["kind"], result["summary"]["name"]) == ("user", "ghost")


def test_iam_principal_is_not_applicable_for_root_or_no_principal(aws):
    root = diagnose(request("iam_principal", actor=actor(user_name="Root", principal_type="Root")), None)
    nobody = diagnose(request("iam_principal"), None)

    assert (root["status"], nobody["status"]) == ("not_applicable", "not_applicable")
    assert "no IAM user or role" in root["summary"]["headline"]


def test_iam_principal_never_sends_a_malformed_name_to_iam(aws):
    odd = actor(user_name="system:serviceaccount:default/app", principal_type="IAMUser")

    assert diagnose(request("iam_principal", actor=odd), None)["status"] == "not_applicable"


def test_throttled_iam_becomes_throttled(aws):
    with Stubber(member_client("iam", INCIDENT)) as stub:
        stub.add_client_error("get_user", service_error_code="Throttling", http_status_code=400)

        with pytest.raises(errors.Throttled, match="iam_principal"):
            diagnose(request("iam_principal", actor=actor(user_name="mallory")), None)


# health


def instance_alert(check: str) -> dict[str, Any]:
    return {"check": check, "incident_id": INCIDENT, "alert": alert(INSTANCE)}


def health_filter() -> dict[str, Any]:
    return {
        "filter": {"entityValues": [INSTANCE], "eventStatusCodes": ["open", "upcoming"], "regions": [REGION]},
        "maxResults": 20,
    }


def test_health_lists_the_instance_events_from_us_east_1(aws):
    health = member_client("health", INCIDENT)
    assert health.meta.endpoint_url == "https://global.health.amazonaws.com"
    retirement = {
        "arn": "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/1",
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        "eventTypeCategory": "scheduledChange",
        "region": REGION,
        "startTime": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "lastUpdatedTime": datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        "statusCode": "upcoming",
    }
    with Stubber(health) as stub:
        stub.add_response("describe_events", {"events": [retirement]}, health_filter())

        result = diagnose(instance_alert("health"), None)

        stub.assert_no_pending_responses()
    summary = result["summary"]
    assert (result["check"], result["status"]) == ("health", "ok")
    assert (summary["count"], summary["truncated"], summary["region"]) == (1, False, REGION)
    assert summary["events"] == [
        {
            "arn": retirement["arn"],
            "service": "EC2",
            "type": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
            "category": "scheduledChange",
            "status": "upcoming",
            "region": REGION,
            "start": "2026-11-25T10:00:00.000Z",
            "end": None,
            "last_updated": "2026-11-20T08:00:00.000Z",
        }
    ]
    assert (
        summary["headline"] == "1 open or upcoming AWS Health events: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"
    )


def test_health_without_a_support_plan_is_unavailable_not_an_error(aws):
    with Stubber(member_client("health", INCIDENT)) as stub:
        stub.add_client_error(
            "describe_events", service_error_code="SubscriptionRequiredException", http_status_code=400
        )

        result = diagnose(instance_alert("health"), None)

    assert result["status"] == "unavailable"
    assert "support plan" in result["summary"]["reason"]
    assert result["summary"]["headline"] == result["summary"]["reason"]


def test_health_without_an_instance_is_not_applicable(aws):
    assert diagnose(request("health"), None)["status"] == "not_applicable"


def test_denied_health_becomes_diagnostic_failed(aws):
    with Stubber(member_client("health", INCIDENT)) as stub:
        stub.add_client_error(
            "describe_events", service_error_code="AccessDeniedException", http_status_code=400
        )

        with pytest.raises(errors.DiagnosticFailed, match="AccessDeniedException"):
            diagnose(instance_alert("health"), None)


def test_throttled_health_becomes_throttled(aws):
    with Stubber(member_client("health", INCIDENT)) as stub:
        stub.add_client_error(
            "describe_events", service_error_code="ThrottlingException", http_status_code=400
        )

        with pytest.raises(errors.Throttled, match="health"):
            diagnose(instance_alert("health"), None)


# headlines of the instance checks


def test_ec2_instance_and_cloudtrail_summaries_carry_a_headline(aws):
    lab = launch_instance(tags={"tourniquet:protected": "bastion"})
    with Stubber(member_client("cloudtrail", INCIDENT)) as stub:
        stub.add_response("lookup_events", {"Events": [trail_event("StopInstances", 3)]}, ANY_LOOKUP)

        trail = diagnose(
            {"check": "cloudtrail", "incident_id": INCIDENT, "alert": alert(lab.instance_id)}, None
        )
    instance = diagnose(
        {"check": "ec2_instance", "incident_id": INCIDENT, "alert": alert(lab.instance_id)}, None
    )
    missing = diagnose(instance_alert("ec2_instance"), None)

    assert instance["summary"]["headline"] == f"{lab.instance_id}, running, m5.large, protected"
    assert trail["summary"]["headline"] == "1 events (StopInstances), 0 errors, 1 source IPs"
    assert missing["summary"]["headline"] == "EC2 does not know it"


# api_rate


def put_points(namespace: str, metric: str, dimensions: dict[str, str], values: list[float]) -> None:
    now = store.now()
    moto_client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": now - timedelta(minutes=5 * index + 2),
                "Value": value,
            }
            for index, value in enumerate(values)
        ],
    )


USAGE = {"Type": "API", "Resource": "DescribeInstances", "Service": "EC2", "Class": "None"}


def test_api_rate_summarizes_call_counts_and_errors(aws):
    put_points("AWS/Usage", "CallCount", USAGE, [1200.0, 300.0, 150.0])
    put_points("AWS/Usage", "CallCount", {**USAGE, "Resource": "RunInstances"}, [9999.0])
    put_points("CloudTrailMetrics", "ThrottledCalls", {}, [40.0, 10.0])
    labels = {
        "service": "EC2",
        "api": "DescribeInstances",
        "error_namespace": "CloudTrailMetrics",
        "error_metric": "ThrottledCalls",
    }

    result = diagnose(request("api_rate", labels=labels), None)

    summary = result["summary"]
    assert (result["check"], result["status"]) == ("api_rate", "ok")
    assert (summary["service"], summary["api"], summary["period_seconds"]) == (
        "EC2",
        "DescribeInstances",
        300,
    )
    assert summary["calls"] == {"datapoints": 3, "max": 1200, "avg": 550, "total": 1650}
    assert summary["errors"] == {
        "namespace": "CloudTrailMetrics",
        "metric": "ThrottledCalls",
        "datapoints": 2,
        "max": 40,
        "avg": 25,
        "total": 50,
    }
    assert summary["headline"] == (
        "EC2 DescribeInstances: max 1200 / avg 550 calls per 5 min; errors max 40 per 5 min"
    )
    assert recorded(result)["summary"] == summary


def test_api_rate_reads_aws_usage_alarm_dimensions(aws):
    labels = {"Service": "EC2", "Resource": "DescribeInstances", "Type": "API"}

    summary = diagnose(request("api_rate", labels=labels), None)["summary"]

    assert (summary["service"], summary["api"]) == ("EC2", "DescribeInstances")
    assert summary["calls"]["datapoints"] == 0
    assert "errors" not in summary
    assert summary["headline"] == "EC2 DescribeInstances: no call data in the last hour"


def test_api_rate_without_service_and_api_labels_is_not_applicable(aws):
    result = diagnose(request("api_rate", labels={"service": "EC2"}), None)

    assert result["status"] == "not_applicable"
    assert "no AWS service and API" in result["summary"]["reason"]


def test_throttled_api_rate_becomes_throttled(aws):
    with Stubber(member_client("cloudwatch", INCIDENT)) as stub:
        stub.add_client_error("get_metric_data", service_error_code="Throttling", http_status_code=400)

        with pytest.raises(errors.Throttled, match="api_rate"):
            diagnose(request("api_rate", labels={"service": "EC2", "api": "RunInstances"}), None)
