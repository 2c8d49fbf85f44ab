"""IAM containment end to end: GuardDuty findings about credentials, through the deployed rules and the real
workflow in the sandbox, checked against what the sandbox's IAM holds before, during and after."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from sandbox.core import Sandbox
from sandbox.slack import SlackMessage
from tests.helpers import load_event
from tourniquet import store
from tourniquet_cli.main import app
from tourniquet_cli.scenario import report, submit

USER_FINDING = "guardduty_iam_access_key"
ROLE_FINDING = "guardduty_iam_instance_credentials"
ATTACKER_IP = "198.51.100.23"  # the user finding's remoteIpDetails

_unique = itertools.count(1)


def _finding(fixture: str) -> tuple[dict[str, Any], str, str]:
    """The fixture about a principal no other test uses: ``(event, original name, original key id)``."""
    n = next(_unique)
    event = load_event(fixture)
    key = event["detail"]["resource"]["accessKeyDetails"]
    name, key_id = key["userName"], key["accessKeyId"]
    event = json.loads(json.dumps(event).replace(name, f"{name}-{n}"))
    event["detail"]["id"] = f"iam-finding-{n}"
    return event, f"{name}-{n}", key_id


def _start(sandbox: Sandbox, event: dict[str, Any]) -> tuple[str, str, SlackMessage]:
    """Publish the finding through the deployed GuardDuty rule; ``(execution, incident, approval card)``."""
    execution_arn = submit(sandbox, event)
    assert execution_arn is not None, "no deployed rule matched the finding"
    card = sandbox.wait_for_card(execution_arn, timeout=60)
    incident_id = sandbox.incident_id_for(execution_arn)
    assert incident_id is not None
    return execution_arn, incident_id, card


def _finish(sandbox: Sandbox, execution_arn: str, mapping: dict[str, str]) -> dict[str, Any]:
    return report(sandbox, sandbox.wait_for_execution(execution_arn, timeout=60), mapping)


def _inline(documents: dict[str, Any]) -> dict[str, Any]:
    return {name: json.loads(doc) if isinstance(doc, str) else doc for name, doc in documents.items()}


def _user_state(sandbox: Sandbox, name: str) -> dict[str, Any]:
    """What IAM holds for the user, read directly (never through the workflow's own records)."""
    iam = sandbox.client("iam")
    try:
        iam.get_login_profile(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        login = False
    else:
        login = True
    return {
        "access_keys": {
            key["AccessKeyId"]: key["Status"]
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        },
        "inline_policies": _inline(
            {
                policy: iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_user_policies(UserName=name)["PolicyNames"]
            }
        ),
        "attached_policies": sorted(
            p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        ),
        "groups": sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]),
        "login_profile": login,
        "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]},
    }


def _role_state(sandbox: Sandbox, name: str) -> dict[str, Any]:
    iam = sandbox.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    return {
        "trust": role["AssumeRolePolicyDocument"],
        "inline_policies": _inline(
            {
                policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            }
        ),
        "attached_policies": sorted(
            p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        ),
        "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]},
    }


def _card_section(card: SlackMessage, heading: str) -> str:
    [text] = [
        block["text"]["text"]
        for block in card.blocks
        if block["type"] == "section" and block.get("text", {}).get("text", "").startswith(heading)
    ]
    return str(text)


def _actions(timeline: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action"]: e for e in timeline if e["kind"] == "action"}


def _diagnostic(timeline: list[dict[str, Any]], check: str) -> dict[str, Any]:
    """A check's result, as recorded with the plan it led to."""
    [planned] = [e for e in timeline if e["kind"] == "planned"]
    [found] = [d for d in planned["diagnostics"] if d["check"] == check]
    return dict(found)


def _revoked_before(document: dict[str, Any]) -> datetime:
    [statement] = document["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", "*", "*")
    return datetime.fromisoformat(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"])


def test_a_compromised_user_key_is_contained_approved_and_released_to_what_it_was(sandbox: Sandbox):
    finding, original_user, original_key = _finding(USER_FINDING)
    event, mapping = sandbox.map_alert(finding)
    user = sandbox.seed.seeded_principal(original_user)
    key_id = mapping[original_key]
    before = _user_state(sandbox, user.name)
    assert before["access_keys"] == {key_id: "Active"}
    assert before["login_profile"] is True
    assert before["groups"] == list(user.groups) != []
    assert before["attached_policies"] == list(user.attached_policy_arns) != []
    assert list(before["inline_policies"]) == list(user.inline_policy_names) != []

    execution_arn, incident_id, card = _start(sandbox, event)

    # Waiting for the click: the reversible steps have run and IAM shows them; console login is untouched.
    waiting = _user_state(sandbox, user.name)
    deny_all = f"arn:aws:iam::{sandbox.deployment.account_id}:policy/tourniquet/TourniquetDenyAll"
    revoke = f"tourniquet-revoke-sessions-{incident_id}"
    assert waiting["access_keys"] == {key_id: "Inactive"}
    # The member stack's deny-all is attached; no policy text is written for it.
    assert waiting["attached_policies"] == sorted([*before["attached_policies"], deny_all])
    assert set(waiting["inline_policies"]) == {*before["inline_policies"], revoke}
    revoked_before = _revoked_before(waiting["inline_policies"][revoke])
    assert timedelta(0) <= store.now() - revoked_before < timedelta(minutes=1)
    assert waiting["login_profile"] is True
    assert {k: waiting[k] for k in ("groups", "tags")} == {k: before[k] for k in ("groups", "tags")}
    assert (
        _card_section(card, "*Requires approval*")
        == f"*Requires approval*\n• disable_console_login on `{key_id}`"
    )
    assert _card_section(card, "*Done automatically*").splitlines()[1:] == [
        "✅ deactivate_access_key: done",
        "✅ attach_deny_policy: done",
        "✅ revoke_sessions: done",
    ]
    diagnostics = _card_section(card, "*Diagnostics*")
    assert f"user {user.name}" in diagnostics and "console" in diagnostics

    sandbox.click(card, "approve")
    result = _finish(sandbox, execution_arn, mapping)

    assert result["status"] == "contained"
    assert result["playbook"] == "guardduty-iam-access-key"
    assert result["approval"] == {"decision": "approve", "by": sandbox.approver.id}
    assert {a["name"]: (a["mode"], a["status"], a["verified"]) for a in result["actions"]} == {
        "deactivate_access_key": ("auto", "done", True),
        "attach_deny_policy": ("auto", "done", True),
        "revoke_sessions": ("auto", "done", True),
        "disable_console_login": ("approval", "done", True),
    }
    contained = _user_state(sandbox, user.name)
    assert contained == {**waiting, "login_profile": False}
    assert store.get_incident(incident_id)["status"] == "contained"

    # The record: what each action found, what it left, the proof and the request ids.
    timeline = result["timeline"]
    actions = _actions(timeline)
    assert all(a["verified"] and a["request_id"] for a in actions.values())
    assert (
        actions["deactivate_access_key"]["before"]["status"],
        actions["deactivate_access_key"]["after"]["status"],
    ) == (
        "Active",
        "Inactive",
    )
    assert actions["attach_deny_policy"]["before"]["attached"] is False
    assert actions["attach_deny_policy"]["after"] == {
        **actions["attach_deny_policy"]["before"],
        "attached": True,
    }
    assert actions["attach_deny_policy"]["after"]["policy_arn"] == deny_all
    assert actions["revoke_sessions"]["before"]["policy"] is None
    assert actions["revoke_sessions"]["detail"]["revoked_before"] == store.iso(revoked_before)
    assert actions["disable_console_login"]["before"]["login_profile"] is not None
    assert actions["disable_console_login"]["after"]["login_profile"] is None
    assert actions["disable_console_login"]["mode"] == "approval"
    kinds = [e["kind"] for e in timeline]
    assert kinds.index("approval_requested") < kinds.index("decision")
    assert {e["action"] for e in timeline[: kinds.index("approval_requested")] if e["kind"] == "action"} == {
        "deactivate_access_key",
        "attach_deny_policy",
        "revoke_sessions",
    }
    assert sorted(u["action"] for u in store.undo_records(incident_id)) == sorted(actions)
    profile = _diagnostic(timeline, "iam_principal")["summary"]
    assert (profile["name"], profile["console_access"], profile["groups"]) == (
        user.name,
        True,
        list(user.groups),
    )
    assert [(k["access_key_id"], k["status"]) for k in profile["access_keys"]] == [(key_id, "Active")]
    trail = _diagnostic(timeline, "cloudtrail_actor")["summary"]
    assert trail["actor"] == {"attribute": "AccessKeyId", "value": key_id}
    assert trail["count"] == 6
    assert ATTACKER_IP in trail["source_ips"]
    assert trail["errors"] == {"AccessDenied": 1}

    released = CliRunner().invoke(
        app,
        ["release", incident_id, "--json"],
        env={
            "TOURNIQUET_TABLE": sandbox.deployment.table_name(),
            "TOURNIQUET_RELEASE_WORKFLOW": sandbox.deployment.outputs["ReleaseStateMachineArn"],
        },
        catch_exceptions=False,
    )

    assert released.exit_code == 0, released.output
    restorations = json.loads(released.output)["restorations"]
    assert {r["action"]: (r["status"], r["verified"]) for r in restorations} == {
        "disable_console_login": ("kept", True),
        "revoke_sessions": ("done", True),
        "attach_deny_policy": ("done", True),
        "deactivate_access_key": ("done", True),
    }
    # Field by field as before the alert; only the deleted console password stays gone (release keeps it off).
    after = _user_state(sandbox, user.name)
    assert after == {**before, "login_profile": False}
    assert after["access_keys"] == {key_id: "Active"}
    assert store.get_incident(incident_id)["status"] == "released"
    releases = {e["action"]: e for e in store.timeline(incident_id) if e["kind"] == "release"}
    assert list(releases) == [r["action"] for r in restorations]
    assert "cannot be restored" in releases.pop("disable_console_login")["detail"]["reason"]
    assert all(e["status"] == "done" and e["verified"] and e["request_id"] for e in releases.values())
    assert releases["deactivate_access_key"]["after"]["status"] == "Active"
    assert releases["attach_deny_policy"]["after"]["attached"] is False
    assert releases["revoke_sessions"]["after"]["policy"] is None


def test_a_stolen_role_session_waits_for_approval_then_revokes_every_older_session(sandbox: Sandbox):
    finding, original_role, _ = _finding(ROLE_FINDING)
    event, mapping = sandbox.map_alert(finding)
    role = sandbox.seed.seeded_principal(original_role, "role")
    before = _role_state(sandbox, role.name)
    assert list(before["inline_policies"]) == list(role.inline_policy_names) != []

    execution_arn, incident_id, card = _start(sandbox, event)

    # Revoking a role's sessions cuts every holder of the role: nothing is changed before a person decides.
    assert _role_state(sandbox, role.name) == before
    assert not any(e["kind"] == "action" for e in store.timeline(incident_id))
    assert _card_section(card, "*Done automatically*").endswith("Nothing was changed automatically.")
    key_id = mapping["ASIAEXAMPLESESSION01"]
    assert (
        _card_section(card, "*Requires approval*") == f"*Requires approval*\n• revoke_sessions on `{key_id}`"
    )
    assert f"role {role.name}" in _card_section(card, "*Diagnostics*")

    clicked = store.now()
    sandbox.click(card, "approve")
    result = _finish(sandbox, execution_arn, mapping)

    assert result["status"] == "contained"
    assert result["playbook"] == "guardduty-iam-instance-credentials"
    assert [(a["name"], a["mode"], a["status"], a["verified"]) for a in result["actions"]] == [
        ("revoke_sessions", "approval", "done", True)
    ]
    after = _role_state(sandbox, role.name)
    revoke = f"tourniquet-revoke-sessions-{incident_id}"
    assert set(after["inline_policies"]) == {*before["inline_policies"], revoke}
    revocation = after["inline_policies"].pop(revoke)
    assert clicked - timedelta(seconds=1) <= _revoked_before(revocation) <= store.now()
    assert after == before
    [action] = [e for e in result["timeline"] if e["kind"] == "action"]
    assert (action["mode"], action["status"], action["verified"]) == ("approval", "done", True)
    assert (action["before"]["policy"], action["after"]["policy"]) == (None, revocation)
    assert action["before"]["principal"] == {"kind": "role", "name": role.name}
    trail = _diagnostic(result["timeline"], "cloudtrail_actor")["summary"]
    assert trail["actor"] == {"attribute": "AccessKeyId", "value": key_id}
    assert trail["source_ips"] == ["203.0.113.99"]


def test_a_denied_role_revocation_leaves_the_role_as_it_was(sandbox: Sandbox):
    finding, original_role, _ = _finding(ROLE_FINDING)
    event, mapping = sandbox.map_alert(finding)
    role = sandbox.seed.seeded_principal(original_role, "role")
    before = _role_state(sandbox, role.name)

    execution_arn, _, card = _start(sandbox, event)
    sandbox.click(card, "deny")
    result = _finish(sandbox, execution_arn, mapping)

    assert result["status"] == "denied"
    assert [(a["name"], a["status"]) for a in result["actions"]] == [("revoke_sessions", "not_run")]
    assert _role_state(sandbox, role.name) == before
