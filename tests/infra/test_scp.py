"""docs/scp-protect-tourniquet-tags.json: a service control policy that Organizations accepts, which keeps the
protected tag with the admins (and its removal with an approved lift_protection session), Tourniquet's own
tags with the admins and containment, and Tourniquet's roles and policies with the deployments and the
admins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import PROJECT_ROOT, MemberRoleNames, load_config, project_context
from stacks.names import ACTION_SESSION_TAG, DENY_ALL_POLICY_PATH, LIFT_PROTECTION_ACTION, STACK_NAME

SCP = PROJECT_ROOT / "docs" / "scp-protect-tourniquet-tags.json"
# Organizations' limit on a service control policy, counted without whitespace.
SCP_SIZE_LIMIT = 5120
TAG_ACTIONS = {
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:CreateUser",
    "iam:TagUser",
    "iam:UntagUser",
}
# The admins (a placeholder role name), the StackSet execution roles (service-managed and self-managed) that
# create the member stack, and the CDK deployment role of the hub's account (a placeholder account id).
DEPLOYERS_AND_ADMINS = {
    "arn:aws:iam::*:role/TourniquetAdmin",
    "arn:aws:iam::*:role/stacksets-exec-*",
    "arn:aws:iam::*:role/AWSCloudFormationStackSetExecutionRole",
    "arn:aws:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-*",
}
# Containment and release write and remove Tourniquet's own tags; of the protected one, only the Contain role
# removes it, in a lift_protection session (their policies say the same).
MEMBER_ROLES = MemberRoleNames()
CONTAIN = f"arn:aws:iam::*:role/{MEMBER_ROLES.contain}"
TAG_WRITERS = {CONTAIN, f"arn:aws:iam::*:role/{MEMBER_ROLES.release}"}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCP.read_text())
    return document


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [st for st in policy["Statement"] if st["Sid"] == sid]
    return found


def exempted(statement: dict[str, Any]) -> set[str]:
    return set(statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"])


def test_the_policy_has_the_shape_of_a_service_control_policy(policy: dict[str, Any]) -> None:
    assert set(policy) == {"Version", "Statement"}
    assert policy["Version"] == "2012-10-17"
    sids = [st["Sid"] for st in policy["Statement"]]
    assert len(set(sids)) == len(sids)
    for st in policy["Statement"]:
        # A deny list: every statement denies, under a condition that exempts someone; SCPs take no Principal.
        assert st["Effect"] == "Deny", st["Sid"]
        assert st["Condition"], st["Sid"]
        assert set(st) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, st["Sid"]


def test_the_policy_fits_the_scp_size_limit(policy: dict[str, Any]) -> None:
    assert len(json.dumps(policy, separators=(",", ":"))) <= SCP_SIZE_LIMIT


@pytest.fixture(scope="module")
def protected_key() -> dict[str, list[str]]:
    """The condition on a request that sets or removes cdk.json's protected tag (aws:TagKeys names both)."""
    return {"aws:TagKeys": [load_config(project_context()).protected_tag_key]}


def test_only_admins_and_deployments_set_the_configured_protected_tag(
    policy: dict[str, Any], protected_key: dict[str, list[str]]
) -> None:
    st = statement(policy, "OnlyAdminsWriteTheProtectedTag")
    # Every way to write it but ec2:DeleteTags, which lifting a protection needs.
    assert set(st["Action"]) == TAG_ACTIONS - {"ec2:DeleteTags"}
    assert st["Resource"] == "*"
    assert st["Condition"]["ForAnyValue:StringEquals"] == protected_key
    assert exempted(st) == DEPLOYERS_AND_ADMINS


def test_containment_removes_the_protected_tag_only_in_a_lift_protection_session(
    policy: dict[str, Any], protected_key: dict[str, list[str]]
) -> None:
    removing = statement(policy, "OnlyAdminsAndContainmentRemoveTheProtectedTag")
    assert removing["Action"] == "ec2:DeleteTags"
    assert removing["Condition"]["ForAnyValue:StringEquals"] == protected_key
    assert exempted(removing) == DEPLOYERS_AND_ADMINS | {CONTAIN}
    # The Contain role itself, outside a session the hub tags for an approved lift_protection (a session
    # without the tag is denied as well: StringNotEquals holds for a missing key).
    lifting = statement(policy, "ContainmentRemovesTheProtectedTagOnlyToLiftAProtection")
    assert lifting["Action"] == "ec2:DeleteTags"
    assert lifting["Condition"] == {
        "ForAnyValue:StringEquals": protected_key,
        "ArnLike": {"aws:PrincipalArn": [CONTAIN]},
        "StringNotEquals": {f"aws:PrincipalTag/{ACTION_SESSION_TAG}": LIFT_PROTECTION_ACTION},
    }


def test_tourniquets_own_tags_are_written_by_containment_as_well(policy: dict[str, Any]) -> None:
    st = statement(policy, "OnlyAdminsAndContainmentWriteTourniquetTags")
    assert set(st["Action"]) == TAG_ACTIONS
    assert st["Condition"]["ForAnyValue:StringLike"] == {"aws:TagKeys": ["tourniquet:*"]}
    assert exempted(st) == DEPLOYERS_AND_ADMINS | TAG_WRITERS


def test_removing_every_ec2_tag_at_once_is_for_admins(policy: dict[str, Any]) -> None:
    # DeleteTags without keys removes all of a resource's tags, and its request names no aws:TagKeys.
    st = statement(policy, "OnlyAdminsRemoveEveryEc2TagAtOnce")
    assert st["Action"] == "ec2:DeleteTags"
    assert st["Condition"]["Null"] == {"aws:TagKeys": "true"}
    assert exempted(st) == DEPLOYERS_AND_ADMINS


def test_tourniquets_roles_and_policies_change_only_by_deployments_and_admins(policy: dict[str, Any]) -> None:
    st = statement(policy, "OnlyDeploymentsAndAdminsChangeTourniquetRoles")
    # The hub's roles (Tourniquet-…), the forwarders' and the member roles; the deny-all policy's path.
    assert all(name.startswith(STACK_NAME) for name in MEMBER_ROLES.model_dump().values())
    assert set(st["Resource"]) == {
        f"arn:aws:iam::*:role/{STACK_NAME}*",
        f"arn:aws:iam::*:policy{DENY_ALL_POLICY_PATH}*",
    }
    # Every change, and passing the roles; reading stays open (diagnostics and security tooling read them).
    actions = set(st["Action"])
    assert {"iam:PassRole", "iam:Update*", "iam:Put*", "iam:Attach*", "iam:Delete*", "iam:Create*"} <= actions
    assert not any(action.startswith(("iam:Get", "iam:List")) or action == "iam:*" for action in actions)
    assert exempted(st) == DEPLOYERS_AND_ADMINS


def test_no_statement_exempts_anyone_else(policy: dict[str, Any]) -> None:
    for st in policy["Statement"]:
        # The named principals are the only way out of a deny; the one statement that names a principal
        # instead narrows what the Contain role may do.
        if "ArnLike" in st["Condition"]:
            assert st["Condition"]["ArnLike"] == {"aws:PrincipalArn": [CONTAIN]}, st["Sid"]
            continue
        assert set(st["Condition"]["ArnNotLike"]) == {"aws:PrincipalArn"}, st["Sid"]
        assert exempted(st) <= DEPLOYERS_AND_ADMINS | TAG_WRITERS, st["Sid"]
        others = {
            key for operator, keys in st["Condition"].items() if operator != "ArnNotLike" for key in keys
        }
        assert not any(key.startswith("aws:Principal") for key in others), st["Sid"]
