"""What the new actions plan, what release plans from an undo record, and the IAM plan target, without AWS."""

from __future__ import annotations

import pytest

from tests.helpers import plan_state
from tourniquet import errors
from tourniquet.containment import iam, registry
from tourniquet.containment.actions import Context
from tourniquet.containment.model import ContainRequest
from tourniquet.intake.model import Alert, Resource, Severity
from tourniquet.settings import Settings
from tourniquet.state import Scope

CTX = Context(
    incident_id="inc-1",
    target_id="i-0a1b2c3d4e5f67890",
    record_step=lambda step: None,
    scope=Scope(account="123456789012", region="eu-west-1"),
)
DENY_ALL_ARN = "arn:aws:iam::123456789012:policy/tourniquet/TourniquetDenyAll"
NO_QUARANTINE = {
    "policy_arn": DENY_ALL_ARN,
    "profile_arn": None,
    "roles": [],
    "role_exists": False,
    "managed": False,
    "denies_all": False,
}


def test_the_session_cutoff_is_read_back_from_the_policy():
    document = iam.revoke_older_sessions("2026-01-01T00:00:00.000Z")

    assert document["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-01-01T00:00:00.000Z"}
    }
    assert iam.revocation_cutoff(document) == "2026-01-01T00:00:00.000Z"
    assert iam.revocation_cutoff(None) is None


def test_policy_names_are_per_incident_and_safe_for_iam():
    assert iam.policy_name("tourniquet-revoke-sessions", "inc-1") == "tourniquet-revoke-sessions-inc-1"
    assert iam.policy_name("tourniquet-revoke-sessions", "inc/1 x") == "tourniquet-revoke-sessions-inc-1-x"


def test_a_missing_quarantine_profile_is_created_in_four_calls_denying_all_by_the_member_stacks_policy():
    calls = iam.quarantine_calls(NO_QUARANTINE)

    assert calls[1]["params"] == {"RoleName": iam.QUARANTINE_NAME, "PolicyArn": DENY_ALL_ARN}
    assert [c["operation"] for c in calls] == [
        "CreateRole",
        "AttachRolePolicy",
        "CreateInstanceProfile",
        "AddRoleToInstanceProfile",
    ]
    assert {c["service"] for c in calls} == {"iam"}


def test_a_ready_quarantine_profile_needs_no_call():
    ready = {
        "policy_arn": DENY_ALL_ARN,
        "profile_arn": "arn:p",
        "roles": [iam.QUARANTINE_NAME],
        "role_exists": True,
        "managed": True,
        "denies_all": True,
    }

    assert iam.quarantine_calls(ready) == []


def test_a_quarantine_profile_holding_another_role_is_refused():
    borrowed = {**NO_QUARANTINE, "profile_arn": "arn:p", "roles": ["admin"]}

    with pytest.raises(errors.ContainmentFailed, match="holds"):
        iam.quarantine_calls(borrowed)


def test_release_puts_back_the_original_groups_of_each_interface():
    before = {"network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-a", "sg-b"]}]}
    now = {"network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-q"]}]}

    [call] = registry.get("isolate_network").restore(CTX, before, now)

    assert call["params"] == {"NetworkInterfaceId": "eni-1", "Groups": ["sg-a", "sg-b"]}


def test_release_removes_only_the_tags_containment_added_and_restores_changed_ones():
    before = {
        "resources": [{"id": "i-1", "tags": {}}, {"id": "vol-1", "tags": {"tourniquet:incident": "inc-0"}}]
    }
    now = {
        "resources": [
            {"id": "i-1", "tags": {"tourniquet:incident": "inc-1", "tourniquet:status": "contained"}},
            {"id": "vol-1", "tags": {"tourniquet:incident": "inc-1", "tourniquet:status": "contained"}},
        ]
    }

    calls = registry.get("tag_instance").restore(CTX, before, now)

    assert [(c["operation"], c["params"]["Resources"]) for c in calls] == [
        ("DeleteTags", ["i-1"]),
        ("DeleteTags", ["vol-1"]),
        ("CreateTags", ["vol-1"]),
    ]
    assert calls[2]["params"]["Tags"] == [{"Key": "tourniquet:incident", "Value": "inc-0"}]


def test_release_of_the_profile_of_an_instance_that_had_none_disassociates_it():
    before = {"association": None}
    now = {"association": {"association_id": "iip-1", "profile_arn": "arn:q", "state": "associated"}}

    [call] = registry.get("quarantine_instance_profile").restore(CTX, before, now)

    assert (call["operation"], call["params"]) == (
        "DisassociateIamInstanceProfile",
        {"AssociationId": "iip-1"},
    )


def test_a_stopping_instance_is_not_started_until_it_is_stopped():
    with pytest.raises(errors.ReleaseFailed, match="stopping"):
        registry.get("stop_instance").restore(CTX, {"state": "running"}, {"state": "stopping"})


def test_an_instance_in_a_pending_scaling_state_is_not_detached():
    state = {
        "auto_scaling": {"group": "g", "lifecycle_state": "Pending:Wait"},
        "target_groups": [],
        "load_balancers": [],
    }

    with pytest.raises(errors.ContainmentFailed, match="Pending:Wait"):
        registry.get("detach_from_scaling").plan(CTX, state)


def test_only_the_approval_gated_actions_are_destructive():
    destructive = sorted(name for name, action in registry.ACTIONS.items() if action.destructive)

    assert destructive == [
        "disable_console_login",
        "lift_protection",
        "revoke_role_sessions",
        "stop_instance",
    ]


def test_every_action_has_a_place_in_the_release_order():
    assert set(registry.ACTIONS) == set(registry.CONTAINMENT_ORDER)


def _key_alert(user_type: str, user_name: str) -> Alert:
    return Alert(
        source="guardduty",
        product="GuardDuty",
        finding_id="f-1",
        type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        category="UnauthorizedAccess",
        severity=Severity.HIGH,
        severity_raw="8",
        title="credentials used outside AWS",
        account="123456789012",
        region="eu-west-1",
        time="2026-01-01T00:00:00Z",
        resources=(
            Resource(
                type="AwsIamAccessKey",
                id="ASIAEXAMPLEEXAMPLE12",
                region="eu-west-1",
                details={"user_name": user_name, "user_type": user_type},
            ),
        ),
        dedup_key="k",
    )


def test_the_plan_target_of_an_assumed_role_key_names_the_role():
    target = plan_state(_key_alert("AssumedRole", "app-runtime"), [], Settings())["target"]

    assert target["role_name"] == "app-runtime"
    assert target["principal_type"] == "AssumedRole"
    assert (
        ContainRequest.parse(
            {
                "mode": "auto",
                "incident_id": "inc-1",
                "plan": {"playbook": "test", "automatic": ["revoke_sessions"], "target": target},
            }
        )
        .target()
        .role_name
        == "app-runtime"
    )


def test_the_plan_target_of_a_user_key_names_the_user_only():
    target = plan_state(_key_alert("IAMUser", "deploy-bot"), [], Settings())["target"]

    assert (target["user_name"], target["principal_type"]) == ("deploy-bot", "IAMUser")
    assert "role_name" not in target
