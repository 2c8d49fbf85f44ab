"""IAM reads and writes for containment: the principal behind an access key, the deny policies, and the
deny-all instance profile that replaces a contained instance's own.

Denying everything attaches the member stack's managed policy ``/tourniquet/TourniquetDenyAll``: the Contain
role may attach that policy and no other. Revoking sessions writes an inline policy instead, because its text
names the moment of revocation, which no fixed policy can.

Tourniquet owns one quarantine role and instance profile per account (under the path ``/tourniquet/``, the
role tagged ``tourniquet:managed=true``), created on first use and reused; they belong to no stack, so
releasing an incident or deleting the stack never leaves an instance with a profile that vanished.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from tourniquet import aws, errors
from tourniquet.containment.ec2 import TAG_MANAGED
from tourniquet.containment.model import Call, ContainTarget

PrincipalKind = Literal["user", "role"]

QUARANTINE_PATH = "/tourniquet/"
QUARANTINE_NAME = "tourniquet-quarantine"
# The member stack's deny-all policy (stacks/names.py names it for the stack).
DENY_ALL_POLICY_NAME = "TourniquetDenyAll"
DENY_ALL_POLICY_PATH = "/tourniquet/"
ISSUE_TIME_KEY = "aws:TokenIssueTime"

_ROOT_NAMES = frozenset({"root", "Root", "<root_account>"})
_USER_TYPES = frozenset({"IAMUser"})
_ROLE_TYPES = frozenset({"AssumedRole", "Role"})
_POLICY_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")

EC2_TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class Principal:
    """The IAM user or role whose credentials an access key finding is about."""

    kind: PrincipalKind
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def state(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name}


def client() -> Any:
    return aws.client("iam")


def is_root(target: ContainTarget) -> bool:
    return target.principal_type == "Root" or (target.user_name or "") in _ROOT_NAMES


def principal(target: ContainTarget) -> Principal:
    """The user or role named by an access key target, as IAM describes it now."""
    if is_root(target):
        raise errors.RootRefused("the access key belongs to the account root: Tourniquet never changes root")
    kind = target.principal_type
    if kind in _ROLE_TYPES:
        name = target.role_name or target.user_name
        if name is None:
            raise errors.ContainmentFailed(f"{target.id} is an assumed-role key but the target names no role")
        return describe("role", name)
    if kind is None or kind in _USER_TYPES:
        if target.user_name is None:
            raise errors.ContainmentFailed(f"{target.id} names no IAM user")
        return describe("user", target.user_name)
    raise errors.ContainmentFailed(
        f"{target.id} belongs to a {kind} principal, which Tourniquet cannot contain"
    )


def from_state(state: Mapping[str, Any]) -> Principal:
    """The principal an undo record names (release reads it back; tags do not matter there)."""
    return Principal(kind=state["kind"], name=state["name"])


def describe(kind: PrincipalKind, name: str) -> Principal:
    try:
        if kind == "user":
            client().get_user(UserName=name)
            pages = client().get_paginator("list_user_tags").paginate(UserName=name)
        else:
            client().get_role(RoleName=name)
            pages = client().get_paginator("list_role_tags").paginate(RoleName=name)
        tags = {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            raise errors.TargetNotFound(f"IAM {kind} {name} does not exist") from exc
        raise
    return Principal(kind=kind, name=name, tags=tags)


def policy_name(prefix: str, incident_id: str) -> str:
    """An inline policy name per incident, so releasing one incident never removes another's policy."""
    return f"{prefix}-{_POLICY_NAME_UNSAFE.sub('-', incident_id)}"[:128]


def inline_policy(kind: PrincipalKind, name: str, policy: str) -> dict[str, Any] | None:
    """The inline policy's document, or None when the principal has no policy of that name."""
    try:
        if kind == "user":
            response = client().get_user_policy(UserName=name, PolicyName=policy)
        else:
            response = client().get_role_policy(RoleName=name, PolicyName=policy)
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return None
        raise
    document = response["PolicyDocument"]
    # boto3 decodes the URL-encoded document to a dict; some endpoints return the JSON text.
    return json.loads(document) if isinstance(document, str) else dict(document)


def deny_all_policy_arn() -> str:
    """The deny-all policy of the account the enclosing ``aws.acting_in`` acts in."""
    acting = aws.current()
    if acting is None:
        raise errors.OutOfScope("the deny-all policy is named only inside an account Tourniquet acts in")
    partition = aws.partition(acting.scope.region)
    return f"arn:{partition}:iam::{acting.scope.account}:policy{DENY_ALL_POLICY_PATH}{DENY_ALL_POLICY_NAME}"


def attached_policies(kind: PrincipalKind, name: str) -> set[str]:
    """The ARNs of the managed policies attached to the user or role."""
    if kind == "user":
        pages = client().get_paginator("list_attached_user_policies").paginate(UserName=name)
    else:
        pages = client().get_paginator("list_attached_role_policies").paginate(RoleName=name)
    return {policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]}


def attach_policy_call(kind: PrincipalKind, name: str, policy_arn: str) -> Call:
    subject = {"UserName": name} if kind == "user" else {"RoleName": name}
    return Call(
        service="iam",
        operation="AttachUserPolicy" if kind == "user" else "AttachRolePolicy",
        params={**subject, "PolicyArn": policy_arn},
    )


def detach_user_policy_call(user: str, policy_arn: str) -> Call:
    return Call(
        service="iam", operation="DetachUserPolicy", params={"UserName": user, "PolicyArn": policy_arn}
    )


def put_policy_call(kind: PrincipalKind, name: str, policy: str, document: Mapping[str, Any]) -> Call:
    subject = {"UserName": name} if kind == "user" else {"RoleName": name}
    return Call(
        service="iam",
        operation="PutUserPolicy" if kind == "user" else "PutRolePolicy",
        params={**subject, "PolicyName": policy, "PolicyDocument": json.dumps(document, sort_keys=True)},
    )


def delete_policy_call(kind: PrincipalKind, name: str, policy: str) -> Call:
    subject = {"UserName": name} if kind == "user" else {"RoleName": name}
    return Call(
        service="iam",
        operation="DeleteUserPolicy" if kind == "user" else "DeleteRolePolicy",
        params={**subject, "PolicyName": policy},
    )


def revoke_older_sessions(cutoff: str) -> dict[str, Any]:
    """Denies everything to credentials issued before ``cutoff``; newer sessions are unaffected."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TourniquetRevokeOlderSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {ISSUE_TIME_KEY: cutoff}},
            }
        ],
    }


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    statements = (document or {}).get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _everything(value: Any) -> bool:
    return value in ("*", ["*"])


def revocation_cutoff(document: Mapping[str, Any] | None) -> str | None:
    """The time before which sessions are denied, if the document is a session revocation."""
    for st in _statements(document):
        cutoff = (st.get("Condition") or {}).get("DateLessThan", {}).get(ISSUE_TIME_KEY)
        if st.get("Effect") == "Deny" and _everything(st.get("Action")) and isinstance(cutoff, str):
            return cutoff
    return None


# The quarantine instance profile.


def profile_name(arn: str | None) -> str | None:
    """The instance profile name at the end of its ARN (after any path)."""
    return arn.rsplit("/", 1)[-1] if arn else None


def quarantine_profile() -> dict[str, Any]:
    """What exists of the quarantine profile and role, as a JSON-ready dict."""
    iam = client()
    state: dict[str, Any] = {
        "policy_arn": deny_all_policy_arn(),
        "profile_arn": None,
        "roles": [],
        "role_exists": False,
        "managed": False,
        "denies_all": False,
    }
    try:
        profile = iam.get_instance_profile(InstanceProfileName=QUARANTINE_NAME)["InstanceProfile"]
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchEntity":
            raise
    else:
        state["profile_arn"] = profile["Arn"]
        state["roles"] = sorted(role["RoleName"] for role in profile.get("Roles", []))
    try:
        role = iam.get_role(RoleName=QUARANTINE_NAME)["Role"]
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchEntity":
            raise
        return state
    state["role_exists"] = True
    state["managed"] = _tags(role.get("Tags", [])).get(TAG_MANAGED) == "true"
    state["denies_all"] = state["policy_arn"] in attached_policies("role", QUARANTINE_NAME)
    return state


def _tags(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def quarantine_calls(state: Mapping[str, Any]) -> list[Call]:
    """The calls that create the quarantine role and profile, or repair what is missing from them.

    A role that only borrows the name is never used: whoever made it controls its permissions.
    """
    if state["role_exists"] and not state["managed"]:
        raise errors.ContainmentFailed(
            f"role {QUARANTINE_NAME} exists but lacks {TAG_MANAGED}=true: not used as the quarantine role"
        )
    if state["roles"] and state["roles"] != [QUARANTINE_NAME]:
        raise errors.ContainmentFailed(
            f"instance profile {QUARANTINE_NAME} holds {state['roles']}: not used as the quarantine profile"
        )
    calls: list[Call] = []
    if not state["role_exists"]:
        calls.append(
            Call(
                service="iam",
                operation="CreateRole",
                params={
                    "RoleName": QUARANTINE_NAME,
                    "Path": QUARANTINE_PATH,
                    "AssumeRolePolicyDocument": json.dumps(EC2_TRUST, sort_keys=True),
                    "Description": "Tourniquet quarantine: an instance holding this role may do nothing",
                    "Tags": [{"Key": TAG_MANAGED, "Value": "true"}],
                },
            )
        )
    if not state["denies_all"]:
        calls.append(attach_policy_call("role", QUARANTINE_NAME, state["policy_arn"]))
    if state["profile_arn"] is None:
        calls.append(
            Call(
                service="iam",
                operation="CreateInstanceProfile",
                params={"InstanceProfileName": QUARANTINE_NAME, "Path": QUARANTINE_PATH},
            )
        )
    if not state["roles"]:
        calls.append(
            Call(
                service="iam",
                operation="AddRoleToInstanceProfile",
                params={"InstanceProfileName": QUARANTINE_NAME, "RoleName": QUARANTINE_NAME},
            )
        )
    return calls


# Another execution may create the same role or profile at the same moment; its creation is the one we wanted.
RACE_CODES = frozenset({"EntityAlreadyExists", "LimitExceeded"})
