from datetime import datetime, timedelta

import pytest

from tests.helpers import load_event, plan_state
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks import plan as plan_module
from tourniquet.playbooks.catalog import catalog
from tourniquet.settings import Settings


def _alert() -> Alert:
    alert = normalize(load_event("guardduty_ec2_finding"))
    assert isinstance(alert, Alert)
    return alert


def _running(protected: bool = False) -> list[dict]:
    return [{"check": "ec2_instance", "status": "ok", "summary": {"protected": protected}}]


def test_ec2_finding_contains_automatically_and_stops_only_after_approval():
    plan = plan_state(_alert(), _running(), Settings(APPROVAL_TIMEOUT_SECONDS=900))

    assert plan["playbook"] == "guardduty-ec2-instance"
    assert plan["automatic"] == [
        "preserve_evidence",
        "snapshot_volumes",
        "detach_from_scaling",
        "isolate_network",
        "tag_instance",
        "quarantine_instance_profile",
    ]
    assert plan["approval"] == ["revoke_role_sessions", "stop_instance"]
    assert plan["approval_required"] is True
    assert plan["approval_timeout_seconds"] == 900
    assert plan["approval_waits"] == {"before_reminder": 675, "after_reminder": 225}
    assert plan["target"] == {
        "type": "AwsEc2Instance",
        "id": "i-0a1b2c3d4e5f67890",
        "account": "123456789012",
        "region": "eu-west-1",
    }


def test_protected_instance_is_alert_only():
    plan = plan_state(_alert(), _running(protected=True), Settings())

    assert plan["automatic"] == [] and plan["approval"] == []
    assert plan["approval_required"] is False
    assert "alert only" in plan["notes"][0]


def _protection_added(hours_before_finding: float, change: str = "added") -> dict:
    found = datetime.fromisoformat(_alert().first_seen or _alert().time)
    at = (found - timedelta(hours=hours_before_finding)).isoformat().replace("+00:00", "Z")
    changes = [{"change": change, "at": at, "by": "arn:aws:iam::123456789012:user/mallory"}]
    return {"check": "cloudtrail", "status": "ok", "summary": {"protected_tag_changes": changes}}


def test_a_protection_added_shortly_before_the_finding_makes_every_action_wait_lifting_it_first():
    plan = plan_state(_alert(), [*_running(protected=True), _protection_added(2)], Settings())

    assert plan["automatic"] == []
    assert plan["approval"][0] == "lift_protection"
    assert set(plan["approval"][1:]) >= {"isolate_network", "snapshot_volumes", "stop_instance"}
    assert plan["approval_required"] is True
    (note,) = plan["notes"]
    assert "suspicious" in note and "user/mallory" in note


@pytest.mark.parametrize(
    ("hours", "change"), [(30, "added"), (2, "removed")], ids=["older-than-the-window", "last-change-removed"]
)
def test_an_older_protection_or_one_last_removed_keeps_the_instance_alert_only(hours, change):
    plan = plan_state(_alert(), [*_running(protected=True), _protection_added(hours, change)], Settings())

    assert plan["automatic"] == [] and plan["approval"] == []
    assert "alert only" in plan["notes"][0]


def test_a_protection_whose_history_could_not_be_read_stays_alert_only():
    unavailable = {"check": "cloudtrail", "status": "unavailable", "error": "States.Timeout"}

    plan = plan_state(_alert(), [*_running(protected=True), unavailable], Settings())

    assert plan["approval"] == [] and "alert only" in plan["notes"][0]


def test_vanished_instance_gets_no_actions():
    plan = plan_state(_alert(), [{"check": "ec2_instance", "status": "not_found", "summary": {}}], Settings())

    assert plan["automatic"] == [] and plan["approval"] == []
    assert plan["approval_required"] is False


def test_dry_run_is_carried_into_the_plan():
    assert plan_state(_alert(), _running(), Settings(DRY_RUN="true"))["dry_run"] is True


def test_catalog_ends_with_a_catch_all():
    assert catalog()[-1].match.model_dump(exclude_defaults=True) == {}


def _key_alert(user_type: str) -> Alert:
    event = load_event("guardduty_iam_access_key")
    event["detail"]["resource"]["accessKeyDetails"]["userType"] = user_type
    alert = normalize(event)
    assert isinstance(alert, Alert)
    return alert


def test_a_users_key_is_contained_automatically_and_console_login_waits():
    plan = plan_state(_key_alert("IAMUser"), [], Settings())

    assert plan["automatic"] == ["deactivate_access_key", "attach_deny_policy", "revoke_sessions"]
    assert plan["approval"] == ["disable_console_login"]


def test_a_principal_iam_no_longer_knows_gets_no_actions():
    gone = {
        "check": "iam_principal",
        "status": "not_found",
        "summary": {"kind": "user", "name": "ci-deployer"},
    }

    plan = plan_state(_key_alert("IAMUser"), [gone], Settings())

    assert plan["automatic"] == [] and plan["approval"] == []
    assert plan["notes"] == ["The IAM user ci-deployer no longer exists: nothing to contain."]


def test_assumed_role_credentials_only_revoke_sessions_and_only_after_approval():
    plan = plan_state(_key_alert("AssumedRole"), [], Settings())

    assert plan["automatic"] == []
    assert plan["approval"] == ["revoke_sessions"]
    assert plan["target"]["role_name"]


def test_root_credentials_are_alert_only():
    plan = plan_state(_key_alert("Root"), [], Settings())

    assert plan["automatic"] == [] and plan["approval"] == []
    assert "root" in plan["notes"][0]


def test_a_playbooks_own_approvers_and_next_steps_are_carried_into_the_plan(monkeypatch):
    ec2 = next(p for p in catalog() if p.id == "guardduty-ec2-instance")
    monkeypatch.setattr(
        plan_module, "select", lambda _alert, *_: ec2.model_copy(update={"approvers": ("S0SECOPS",)})
    )

    plan = plan_state(_alert(), _running(), Settings())

    assert plan["approvers"] == ["S0SECOPS"]
    assert plan["next_steps"] == list(ec2.next_steps)


def test_a_protected_principals_actions_all_wait_for_approval():
    settings = Settings(PROTECTED_PRINCIPALS="ci-deploy-*, arn:aws:iam::*:role/BreakGlass")
    alert = _key_alert("IAMUser")
    user = alert.primary_resource.details["user_name"]

    unprotected = plan_state(alert, [], settings)
    protected = plan_state(alert, [], Settings(PROTECTED_PRINCIPALS=f"{user[:3]}*"))

    assert unprotected["automatic"] == ["deactivate_access_key", "attach_deny_policy", "revoke_sessions"]
    assert protected["automatic"] == []
    assert protected["approval"] == [
        "deactivate_access_key",
        "attach_deny_policy",
        "revoke_sessions",
        "disable_console_login",
    ]
    assert "protected principal" in protected["notes"][-1]


def test_an_instance_whose_role_is_protected_is_not_contained_automatically():
    diagnostics = [
        *_running(),
        {
            "check": "iam_principal",
            "status": "ok",
            "summary": {"name": "BreakGlass", "arn": "arn:aws:iam::1:role/BreakGlass"},
        },
    ]

    plan = plan_state(_alert(), diagnostics, Settings(PROTECTED_PRINCIPALS="arn:aws:iam::*:role/BreakGlass"))

    assert plan["automatic"] == []
    assert plan["approval"][-1] == "stop_instance"
