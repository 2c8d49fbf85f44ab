"""Access key, IAM user and assumed-role containment against moto; root is never touched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import (
    MEMBER_ACCOUNT,
    REGION,
    contain_one,
    contain_request,
    create_deny_all_policy,
    member_account_client,
    moto_client,
)
from tourniquet import errors, store
from tourniquet.containment import iam as containment_iam

INCIDENT = "inc-5e6f7a8b9c0d"
ROLE_KEY = "ASIAEXAMPLEEXAMPLE12"


@pytest.fixture
def iam(aws: None) -> Any:
    return moto_client("iam")


@pytest.fixture
def user(iam: Any) -> dict[str, str]:
    iam.create_user(UserName="deploy-bot")
    key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="deploy-bot", Password="Correct-Horse-9!")
    return {"user_name": "deploy-bot", "key": key}


@pytest.fixture
def role(iam: Any) -> str:
    iam.create_role(RoleName="app-runtime", AssumeRolePolicyDocument="{}")
    return "app-runtime"


def event(
    action: str, key: str, *, mode: str = "auto", dry_run: bool = False, **principal: str
) -> dict[str, Any]:
    target = {"type": "AwsIamAccessKey", "id": key, "account": "123456789012", "region": REGION, **principal}
    return contain_request([action], target, incident_id=INCIDENT, mode=mode, dry_run=dry_run)


def user_event(action: str, user: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    return event(action, user["key"], user_name=user["user_name"], principal_type="IAMUser", **kwargs)


def role_event(action: str, role: str, **kwargs: Any) -> dict[str, Any]:
    return event(action, ROLE_KEY, user_name=role, principal_type="AssumedRole", **kwargs)


def action_events() -> list[dict[str, Any]]:
    return [e for e in store.timeline(INCIDENT) if e["kind"] == "action"]


def key_status(iam: Any, user: dict[str, str]) -> str:
    [key] = iam.list_access_keys(UserName=user["user_name"])["AccessKeyMetadata"]
    return str(key["Status"])


def user_policies(iam: Any, user: dict[str, str]) -> list[str]:
    return list(iam.list_user_policies(UserName=user["user_name"])["PolicyNames"])


# deactivate_access_key


def test_deactivate_access_key_sets_it_inactive_and_records_it_was_active(iam, user):
    result = contain_one(user_event("deactivate_access_key", user))

    assert (result["status"], result["verified"]) == ("done", True)
    assert key_status(iam, user) == "Inactive"
    [record] = store.undo_records(INCIDENT)
    assert record["before"] == {
        "principal": {"kind": "user", "name": "deploy-bot"},
        "access_key_id": user["key"],
        "status": "Active",
    }
    [recorded] = action_events()
    assert recorded["after"]["status"] == "Inactive"
    assert recorded["target"]["user_name"] == "deploy-bot"


def test_deactivate_access_key_twice_changes_nothing_the_second_time(user):
    contain_one(user_event("deactivate_access_key", user))

    assert contain_one(user_event("deactivate_access_key", user))["status"] == "unchanged"


def test_deactivate_access_key_detects_a_key_made_active_again(iam, user, monkeypatch):
    real = containment_iam.principal
    seen = {"count": 0}

    def principal(target: Any) -> containment_iam.Principal:
        seen["count"] += 1
        if seen["count"] == 2:
            iam.update_access_key(UserName=user["user_name"], AccessKeyId=user["key"], Status="Active")
        return real(target)

    monkeypatch.setattr(containment_iam, "principal", principal)

    with pytest.raises(errors.VerificationFailed, match="is Active"):
        contain_one(user_event("deactivate_access_key", user))
    assert action_events()[0]["verified"] is False


def test_a_key_the_user_does_not_have_is_not_found(user):
    with pytest.raises(errors.TargetNotFound, match="no access key"):
        contain_one(event("deactivate_access_key", "AKIAIOSFODNN7EXAMPLE", user_name="deploy-bot"))


def test_a_missing_user_is_not_found(aws):
    with pytest.raises(errors.TargetNotFound, match="ghost"):
        contain_one(event("deactivate_access_key", "AKIAIOSFODNN7EXAMPLE", user_name="ghost"))


def test_temporary_credentials_cannot_be_deactivated(role):
    with pytest.raises(errors.ContainmentFailed, match="revoke_sessions"):
        contain_one(role_event("deactivate_access_key", role))


# attach_deny_policy


DENY_ALL_ARN = "arn:aws:iam::123456789012:policy/tourniquet/TourniquetDenyAll"


def test_attach_deny_policy_attaches_the_member_stacks_deny_all_and_writes_no_policy_text(iam, user):
    result = contain_one(user_event("attach_deny_policy", user))

    assert result["verified"] is True
    attached = iam.list_attached_user_policies(UserName="deploy-bot")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [DENY_ALL_ARN]
    assert user_policies(iam, user) == []
    assert store.undo_records(INCIDENT)[0]["before"]["attached"] is False


def test_a_member_accounts_user_gets_the_deny_all_of_its_own_account(iam, user, monkeypatch):
    monkeypatch.setenv("SCOPE_ACCOUNTS", f"123456789012,{MEMBER_ACCOUNT}")
    member_iam = member_account_client("iam")
    member_deny_all = create_deny_all_policy(member_iam)
    member_iam.create_user(UserName="deploy-bot")
    key = member_iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]

    member_user = {"user_name": "deploy-bot", "key": key}

    result = contain_one(user_event("attach_deny_policy", member_user, account=MEMBER_ACCOUNT))

    assert result["verified"] is True
    assert member_deny_all == f"arn:aws:iam::{MEMBER_ACCOUNT}:policy/tourniquet/TourniquetDenyAll"
    attached = member_iam.list_attached_user_policies(UserName="deploy-bot")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [member_deny_all]
    # The hub's own user of the same name is untouched.
    assert iam.list_attached_user_policies(UserName="deploy-bot")["AttachedPolicies"] == []


def test_attach_deny_policy_twice_changes_nothing_the_second_time(user):
    contain_one(user_event("attach_deny_policy", user))

    assert contain_one(user_event("attach_deny_policy", user))["status"] == "unchanged"


# revoke_sessions


def test_revoke_sessions_of_a_user_denies_tokens_issued_before_now(iam, user):
    started = store.iso()

    result = contain_one(user_event("revoke_sessions", user))

    assert result["verified"] is True
    name = f"tourniquet-revoke-sessions-{INCIDENT}"
    [statement] = iam.get_user_policy(UserName="deploy-bot", PolicyName=name)["PolicyDocument"]["Statement"]
    cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert statement["Effect"] == "Deny"
    assert started <= cutoff <= store.iso()
    assert result["detail"]["revoked_before"] == cutoff


def test_revoke_sessions_of_an_assumed_role_denies_the_role_sessions(iam, role):
    result = contain_one(role_event("revoke_sessions", role))

    assert result["verified"] is True
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [f"tourniquet-revoke-sessions-{INCIDENT}"]
    assert store.undo_records(INCIDENT)[0]["before"]["principal"] == {"kind": "role", "name": role}


def test_a_member_accounts_role_finding_changes_only_the_members_role_never_the_hubs_namesake(
    iam, role, monkeypatch
):
    monkeypatch.setenv("SCOPE_ACCOUNTS", f"123456789012,{MEMBER_ACCOUNT}")
    member_iam = member_account_client("iam")
    member_iam.create_role(RoleName="app-runtime", AssumeRolePolicyDocument="{}")

    result = contain_one(role_event("revoke_sessions", role, account=MEMBER_ACCOUNT))

    assert (result["status"], result["verified"]) == ("done", True)
    assert member_iam.list_role_policies(RoleName="app-runtime")["PolicyNames"] == [
        f"tourniquet-revoke-sessions-{INCIDENT}"
    ]
    assert iam.list_role_policies(RoleName="app-runtime")["PolicyNames"] == []


def test_revoke_sessions_names_the_role_from_role_name_first(iam, role):
    request = event(
        "revoke_sessions", ROLE_KEY, principal_type="AssumedRole", role_name=role, user_name="session"
    )

    assert contain_one(request)["verified"] is True
    assert iam.list_role_policies(RoleName=role)["PolicyNames"]


def test_revoke_sessions_twice_keeps_the_first_cutoff(role):
    first = contain_one(role_event("revoke_sessions", role))

    second = contain_one(role_event("revoke_sessions", role))

    assert second["status"] == "unchanged"
    assert second["detail"]["revoked_before"] == first["detail"]["revoked_before"]


# disable_console_login


def test_disable_console_login_never_runs_without_an_approval(iam, user):
    with pytest.raises(errors.ContainmentFailed, match="only after an approval"):
        contain_one(user_event("disable_console_login", user))

    assert iam.get_login_profile(UserName="deploy-bot")["LoginProfile"]


def test_disable_console_login_deletes_the_password_and_says_it_cannot_come_back(iam, user):
    result = contain_one(user_event("disable_console_login", user, mode="approval"))

    assert (result["status"], result["verified"]) == ("done", True)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="deploy-bot")
    before = store.undo_records(INCIDENT)[0]["before"]
    assert before["login_profile"]["password_reset_required"] is False
    assert "cannot be restored" in before["release"]


def test_disable_console_login_for_a_user_without_a_password_is_unchanged(iam, user):
    iam.delete_login_profile(UserName="deploy-bot")

    assert contain_one(user_event("disable_console_login", user, mode="approval"))["status"] == "unchanged"


# guards


@pytest.mark.parametrize(
    "principal",
    [{"principal_type": "Root"}, {"user_name": "root"}, {"principal_type": "Root", "user_name": "Root"}],
)
def test_root_is_refused_and_the_refusal_is_recorded(iam, principal):
    with pytest.raises(errors.RootRefused, match="never changes root"):
        contain_one(event("attach_deny_policy", "AKIAIOSFODNN7EXAMPLE", **principal))

    [recorded] = action_events()
    assert recorded["status"] == "refused"
    assert "root" in recorded["detail"]["reason"]
    assert store.undo_records(INCIDENT) == []


def test_root_refusal_is_a_containment_failure_for_the_workflow():
    assert issubclass(errors.RootRefused, errors.ContainmentFailed)


@pytest.mark.parametrize("action", ["deactivate_access_key", "attach_deny_policy", "revoke_sessions"])
def test_protected_user_is_never_changed(iam, user, action):
    iam.tag_user(UserName="deploy-bot", Tags=[{"Key": "tourniquet:protected", "Value": "break-glass"}])

    result = contain_one(user_event(action, user))

    assert result["status"] == "skipped_protected"
    assert key_status(iam, user) == "Active"
    assert user_policies(iam, user) == []


def test_protected_role_is_never_changed(iam, role):
    iam.tag_role(RoleName=role, Tags=[{"Key": "tourniquet:protected", "Value": "ci"}])

    assert contain_one(role_event("revoke_sessions", role))["status"] == "skipped_protected"
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


@pytest.mark.parametrize(
    ("action", "mode"),
    [
        ("deactivate_access_key", "auto"),
        ("attach_deny_policy", "auto"),
        ("revoke_sessions", "auto"),
        ("disable_console_login", "approval"),
    ],
)
def test_dry_run_lists_the_iam_calls_and_changes_nothing(iam, user, action, mode):
    result = contain_one(user_event(action, user, mode=mode, dry_run=True))

    assert result["status"] == "planned"
    assert [c["service"] for c in result["detail"]["calls"]] == ["iam"]
    assert key_status(iam, user) == "Active"
    assert user_policies(iam, user) == []
    assert iam.get_login_profile(UserName="deploy-bot")["LoginProfile"]
    assert store.undo_records(INCIDENT) == []


def test_an_instance_action_on_an_access_key_is_refused(user):
    with pytest.raises(errors.ContainmentFailed, match="acts on AwsEc2Instance"):
        contain_one(user_event("isolate_network", user))


def test_an_access_key_id_that_is_not_one_is_rejected(user):
    with pytest.raises(errors.ContainmentFailed, match=r"target\.id"):
        contain_one(event("deactivate_access_key", "AKIA$(reboot)", user_name="deploy-bot"))
