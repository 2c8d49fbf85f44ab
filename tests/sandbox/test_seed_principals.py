"""Look-alike IAM users and roles for access key findings, with ids rewritten and CloudTrail seeded."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.helpers import load_event

USER_FINDING = "guardduty_iam_access_key"
ROLE_FINDING = "guardduty_iam_instance_credentials"

_unique = itertools.count(1)


def _finding(fixture: str) -> tuple[dict[str, Any], str]:
    """The fixture about a user or role no other test maps: ``(event, original name)``."""
    event = load_event(fixture)
    name = event["detail"]["resource"]["accessKeyDetails"]["userName"]
    fresh = f"{name}-{next(_unique)}"
    return json.loads(json.dumps(event).replace(name, fresh)), fresh


def _key(event: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = event["detail"]["resource"]["accessKeyDetails"]
    return details


def test_a_user_finding_names_a_look_alike_user_with_a_real_key_console_group_and_policies(sandbox: Sandbox):
    finding, original = _finding(USER_FINDING)
    iam = sandbox.client("iam")

    event, mapping = sandbox.map_alert(finding)
    user = sandbox.seed.seeded_principal(original)

    key = _key(event)
    assert user.kind == "user"
    assert user.name != original and user.name.startswith(f"{original}-")
    assert mapping == {
        original: user.name,
        "AKIAIOSFODNN7EXAMPLE": user.access_keys["AKIAIOSFODNN7EXAMPLE"],
        "AIDAEXAMPLEPRINCIPAL1": user.principal_id,
    }
    assert (key["userName"], key["accessKeyId"], key["principalId"]) == (
        user.name,
        mapping["AKIAIOSFODNN7EXAMPLE"],
        user.principal_id,
    )
    assert f"IAMUser {user.name} in" in event["detail"]["title"]
    assert f"IAMUser : {user.name}, under" in event["detail"]["description"]
    described = iam.get_user(UserName=user.name)["User"]
    assert (described["Arn"], described["UserId"]) == (user.arn, user.principal_id)
    assert [
        (k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]
    ] == [(key["accessKeyId"], "Active")]
    assert iam.get_login_profile(UserName=user.name)["LoginProfile"]["UserName"] == user.name
    assert user.login_profile is True
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user.name)["Groups"]] == list(
        user.groups
    )
    assert [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.name)["AttachedPolicies"]
    ] == list(user.attached_policy_arns)
    assert iam.list_user_policies(UserName=user.name)["PolicyNames"] == list(user.inline_policy_names)
    assert user.groups and user.attached_policy_arns and user.inline_policy_names


def test_a_role_finding_names_a_look_alike_role_that_ec2_assumes(sandbox: Sandbox):
    finding, original = _finding(ROLE_FINDING)
    iam = sandbox.client("iam")

    event, mapping = sandbox.map_alert(finding)
    role = sandbox.seed.seeded_principal(original, "role")

    key = _key(event)
    session_key = role.access_keys["ASIAEXAMPLESESSION01"]
    assert mapping == {
        original: role.name,
        "ASIAEXAMPLESESSION01": session_key,
        "AROAEXAMPLEROLEID0001": role.principal_id,
    }
    assert session_key.startswith("ASIA") and session_key != "ASIAEXAMPLESESSION01"
    assert key["userName"] == role.name
    assert key["principalId"] == f"{role.principal_id}:i-0a1b2c3d4e5f67890"
    assert f"instance role {role.name} used" in event["detail"]["title"]
    described = iam.get_role(RoleName=role.name)["Role"]
    assert (described["Arn"], described["RoleId"]) == (role.arn, role.principal_id)
    [trust] = described["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert iam.list_role_policies(RoleName=role.name)["PolicyNames"] == list(role.inline_policy_names)
    assert [
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
    ] == list(role.attached_policy_arns)
    assert role.inline_policy_names and role.attached_policy_arns


@pytest.mark.parametrize("fixture", [USER_FINDING, ROLE_FINDING])
def test_a_resent_finding_names_the_same_look_alikes_and_a_mapped_one_is_used_as_it_is(
    sandbox: Sandbox, fixture: str
):
    finding, _ = _finding(fixture)

    first, mapping = sandbox.map_alert(finding)
    again, same = sandbox.map_alert(finding)
    as_is, nothing = sandbox.map_alert(first)

    assert (again, same) == (first, mapping)
    assert (as_is, nothing) == (first, {})


def test_another_key_of_the_same_user_is_a_second_real_key(sandbox: Sandbox):
    finding, original = _finding(USER_FINDING)
    _, first = sandbox.map_alert(finding)
    _key(finding)["accessKeyId"] = "AKIAEXAMPLESECONDKEY"

    _, second = sandbox.map_alert(finding)

    user = sandbox.seed.seeded_principal(original)
    assert second[original] == first[original] == user.name
    keys = sandbox.client("iam").list_access_keys(UserName=user.name)["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in keys) == sorted(
        [first["AKIAIOSFODNN7EXAMPLE"], second["AKIAEXAMPLESECONDKEY"]]
    )


def test_a_name_is_rewritten_where_it_stands_alone_never_inside_a_longer_name(sandbox: Sandbox):
    finding, original = _finding(USER_FINDING)
    finding["detail"]["description"] = (
        f"{original}-legacy and {original}. Also arn:aws:iam::1:user/{original}"
    )

    event, mapping = sandbox.map_alert(finding)

    assert event["detail"]["description"] == (
        f"{original}-legacy and {mapping[original]}. Also arn:aws:iam::1:user/{mapping[original]}"
    )


def test_cloudtrail_history_is_seeded_for_the_users_key(sandbox: Sandbox):
    finding, original = _finding(USER_FINDING)
    _, mapping = sandbox.map_alert(finding)
    user = sandbox.seed.seeded_principal(original)

    events = sandbox.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": mapping["AKIAIOSFODNN7EXAMPLE"]}]
    )["Events"]

    assert [e["EventName"] for e in events] == [
        "CreateUser",
        "GetSecretValue",
        "ListSecrets",
        "ListUsers",
        "GetCallerIdentity",
        "DescribeStacks",
    ]
    assert {e["Username"] for e in events} == {user.name}
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert [r["sourceIPAddress"] for r in records] == ["198.51.100.23"] * 5 + ["203.0.113.10"]
    assert records[0]["errorCode"] == "AccessDenied"
    assert {r["userIdentity"]["arn"] for r in records} == {user.arn}


def test_cloudtrail_history_is_seeded_for_the_roles_session(sandbox: Sandbox):
    finding, original = _finding(ROLE_FINDING)
    _, mapping = sandbox.map_alert(finding)
    role = sandbox.seed.seeded_principal(original, "role")

    events = sandbox.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": mapping["ASIAEXAMPLESESSION01"]}]
    )["Events"]

    assert len(events) == 4
    assert {e["Username"] for e in events} == {"i-0a1b2c3d4e5f67890"}
    identities = [json.loads(e["CloudTrailEvent"])["userIdentity"] for e in events]
    assert {i["sessionContext"]["sessionIssuer"]["arn"] for i in identities} == {role.arn}
    assert {i["arn"] for i in identities} == {
        f"arn:aws:sts::{sandbox.deployment.account_id}:assumed-role/{role.name}/i-0a1b2c3d4e5f67890"
    }
    assert {json.loads(e["CloudTrailEvent"])["sourceIPAddress"] for e in events} == {"203.0.113.99"}


def test_a_root_credential_finding_gets_no_look_alike(sandbox: Sandbox):
    finding, _ = _finding(USER_FINDING)
    _key(finding).update({"userType": "Root", "userName": "Root"})

    event, mapping = sandbox.map_alert(finding)

    assert (event, mapping) == (finding, {})


def _security_hub_finding(*, eventbridge: bool = False) -> tuple[dict[str, Any], str]:
    """The Security Hub (ASFF) finding about a user's key, about a user no other test maps, as GetFindings
    returns it or as EventBridge delivers it: ``(event, original name)``."""
    finding = load_event("securityhub_get_findings")["Findings"][1]
    fresh = f"ci-deployer-{next(_unique)}"
    finding = json.loads(json.dumps(finding).replace("ci-deployer", fresh))
    if eventbridge:
        event = load_event("securityhub_guardduty_ec2")
        event["detail"]["findings"] = [finding]
        return event, fresh
    return {"Findings": [finding]}, fresh


def _resources(event: dict[str, Any]) -> list[dict[str, Any]]:
    findings = event["Findings"] if "Findings" in event else event["detail"]["findings"]
    resources: list[dict[str, Any]] = findings[0]["Resources"]
    return resources


@pytest.mark.parametrize("eventbridge", [False, True], ids=["get-findings", "eventbridge"])
def test_a_security_hub_access_key_names_a_look_alike_user_with_a_real_key(
    sandbox: Sandbox, eventbridge: bool
):
    finding, original = _security_hub_finding(eventbridge=eventbridge)
    iam = sandbox.client("iam")

    event, mapping = sandbox.map_alert(finding)

    user = sandbox.seed.seeded_principal(original)
    key_id = user.access_keys["AKIAIOSFODNN7EXAMPLE"]
    assert mapping == {
        original: user.name,
        "AKIAIOSFODNN7EXAMPLE": key_id,
        "AIDAEXAMPLEPRINCIPAL1": user.principal_id,
    }
    [resource] = _resources(event)
    assert resource["Id"] == f"AWS::IAM::AccessKey:{key_id}"
    assert resource["Details"]["AwsIamAccessKey"] == {
        "PrincipalId": user.principal_id,
        "PrincipalType": "IAMUser",
        "PrincipalName": user.name,
    }
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]] == [
        key_id
    ]
    trail = sandbox.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}]
    )["Events"]
    # The calls come from the address the finding reports (in ProductFields, as GuardDuty sends it).
    assert "198.51.100.23" in {json.loads(e["CloudTrailEvent"])["sourceIPAddress"] for e in trail}


def test_a_security_hub_key_named_by_the_deprecated_user_name_field_gets_a_look_alike_user(sandbox: Sandbox):
    finding, original = _security_hub_finding()
    _resources(finding)[0]["Details"]["AwsIamAccessKey"] = {"UserName": original, "Status": "Active"}

    event, mapping = sandbox.map_alert(finding)

    user = sandbox.seed.seeded_principal(original)
    assert mapping == {original: user.name, "AKIAIOSFODNN7EXAMPLE": user.access_keys["AKIAIOSFODNN7EXAMPLE"]}
    assert _resources(event)[0]["Details"]["AwsIamAccessKey"]["UserName"] == user.name


def test_a_security_hub_assumed_role_key_names_a_look_alike_role_and_session_key(sandbox: Sandbox):
    finding, original = _security_hub_finding()
    _resources(finding)[0].update(
        Id="AWS::IAM::AccessKey:ASIAEXAMPLESESSION07",
        Details={
            "AwsIamAccessKey": {
                "PrincipalId": "AROAEXAMPLEROLEID0007:i-0a1b2c3d4e5f67890",
                "PrincipalType": "AssumedRole",
                "PrincipalName": original,
            }
        },
    )

    _, mapping = sandbox.map_alert(finding)

    role = sandbox.seed.seeded_principal(original, "role")
    assert mapping == {
        original: role.name,
        "ASIAEXAMPLESESSION07": role.access_keys["ASIAEXAMPLESESSION07"],
        "AROAEXAMPLEROLEID0007": role.principal_id,
    }
    assert sandbox.client("iam").get_role(RoleName=role.name)["Role"]["Arn"] == role.arn


def test_a_security_hub_iam_user_resource_names_a_look_alike_user(sandbox: Sandbox):
    finding, original = _security_hub_finding()
    _resources(finding)[:] = [
        {
            "Type": "AwsIamUser",
            "Id": f"arn:aws:iam::123456789012:user/deploy/{original}",
            "Details": {
                "AwsIamUser": {"UserName": original, "UserId": "AIDAEXAMPLEUSERID0001", "Path": "/deploy/"}
            },
        }
    ]

    event, mapping = sandbox.map_alert(finding)

    user = sandbox.seed.seeded_principal(original)
    assert mapping == {original: user.name, "AIDAEXAMPLEUSERID0001": user.principal_id}
    assert _resources(event)[0]["Id"] == f"arn:aws:iam::123456789012:user/deploy/{user.name}"
    assert sandbox.client("iam").get_user(UserName=user.name)["User"]["UserId"] == user.principal_id
    assert user.access_keys == {}


def test_a_security_hub_finding_about_root_gets_no_look_alike(sandbox: Sandbox):
    finding, _ = _security_hub_finding()
    _resources(finding)[0]["Details"]["AwsIamAccessKey"].update(PrincipalType="Root", PrincipalName="Root")

    assert sandbox.map_alert(finding) == (finding, {})
