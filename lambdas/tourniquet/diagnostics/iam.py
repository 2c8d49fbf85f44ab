"""The iam_principal diagnostic (read-only): who the alert's IAM user or role is and what it can do."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from tourniquet import aws, store
from tourniquet.intake.model import Alert, Resource

# Keys, policies and groups beyond this many are left out (IAM's own quotas are mostly lower).
MAX_LISTED = 50
_ASSUMED_ROLE_TYPES = frozenset({"AssumedRole", "Role"})
_USER_TYPES = frozenset({"IAMUser", "User"})
# Alert fields are untrusted: only a well-formed IAM name is ever sent to IAM.
_IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")

Kind = Literal["user", "role"]


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str
    source: str
    """Where the alert named it, so the reader can judge the match."""


def principal(alert: Alert) -> Principal | None:
    """The IAM user or role the alert is about: its actor first, then its resources; None for root or none."""
    found = _named(alert)
    return found if found is not None and _IAM_NAME.fullmatch(found.name) else None


def _named(alert: Alert) -> Principal | None:
    found = _from_actor(alert)
    for resource in alert.resources:
        if found is not None:
            break
        found = _from_resource(resource)
    return found


def _from_actor(alert: Alert) -> Principal | None:
    actor = alert.actor
    if actor is None or actor.principal_type == "Root":
        return None
    if actor.principal_type in _ASSUMED_ROLE_TYPES:
        role = _role_from_arn(actor.principal) or actor.user_name
        return Principal("role", role, "alert actor (assumed role)") if role else None
    if actor.user_name and actor.principal_type in _USER_TYPES | {None}:
        return Principal("user", actor.user_name, "alert actor")
    return None


def _from_resource(resource: Resource) -> Principal | None:
    details = resource.details
    if resource.type == "AwsIamUser":
        return Principal("user", resource.id, "alert resource")
    if resource.type == "AwsIamRole":
        return Principal("role", resource.id, "alert resource")
    if resource.type == "AwsIamAccessKey" and details.get("user_name"):
        user_type = details.get("user_type")
        if user_type in _ASSUMED_ROLE_TYPES:
            return Principal("role", details["user_name"], "access key (assumed role)")
        if user_type in _USER_TYPES | {None}:
            return Principal("user", details["user_name"], "access key owner")
    if resource.type == "AwsEc2Instance" and details.get("instance_profile"):
        role = instance_profile_role(details["instance_profile"])
        return Principal("role", role, "instance profile") if role else None
    return None


def instance_profile_role(profile_arn: str) -> str | None:
    """The role inside an instance profile, or None when the profile is gone or holds no role."""
    name = profile_arn.rsplit("/", 1)[-1]
    try:
        roles = aws.client("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return None
        raise
    return str(roles[0]["RoleName"]) if roles else None


def describe_user(name: str, protected_tag_key: str, now: datetime) -> dict[str, Any] | None:
    """The user's profile, or None when IAM does not know the user."""
    iam = aws.client("iam")
    try:
        user = iam.get_user(UserName=name)["User"]
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return None
        raise
    keys = []
    for key in _paged(iam, "list_access_keys", "AccessKeyMetadata", UserName=name):
        used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
        keys.append(
            {
                "access_key_id": key["AccessKeyId"],
                "status": key.get("Status"),
                "created": _iso(key.get("CreateDate")),
                "age_days": _age_days(key.get("CreateDate"), now),
                "last_used": _iso(used.get("LastUsedDate")),
                "last_used_service": _known(used.get("ServiceName")),
                "last_used_region": _known(used.get("Region")),
            }
        )
    tags = _tags(user.get("Tags", []))
    return {
        "kind": "user",
        "name": user["UserName"],
        "arn": user["Arn"],
        "created": _iso(user.get("CreateDate")),
        "password_last_used": _iso(user.get("PasswordLastUsed")),
        "console_access": _has_login_profile(name),
        "access_keys": keys,
        "mfa_devices": [
            device["SerialNumber"] for device in _paged(iam, "list_mfa_devices", "MFADevices", UserName=name)
        ],
        "attached_policies": [
            policy["PolicyArn"]
            for policy in _paged(iam, "list_attached_user_policies", "AttachedPolicies", UserName=name)
        ],
        "inline_policies": list(_paged(iam, "list_user_policies", "PolicyNames", UserName=name)),
        "groups": [
            group["GroupName"] for group in _paged(iam, "list_groups_for_user", "Groups", UserName=name)
        ],
        "tags": tags,
        "protected": protected_tag_key in tags,
    }


def describe_role(name: str, protected_tag_key: str) -> dict[str, Any] | None:
    """The role's profile, or None when IAM does not know the role."""
    iam = aws.client("iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return None
        raise
    last_used = role.get("RoleLastUsed") or {}
    tags = _tags(role.get("Tags", []))
    return {
        "kind": "role",
        "name": role["RoleName"],
        "arn": role["Arn"],
        "created": _iso(role.get("CreateDate")),
        "last_used": _iso(last_used.get("LastUsedDate")),
        "last_used_region": last_used.get("Region"),
        "max_session_duration": role.get("MaxSessionDuration"),
        "attached_policies": [
            policy["PolicyArn"]
            for policy in _paged(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        ],
        "inline_policies": list(_paged(iam, "list_role_policies", "PolicyNames", RoleName=name)),
        "tags": tags,
        "protected": protected_tag_key in tags,
    }


def headline(profile: Mapping[str, Any]) -> str:
    """One short line for the card: the principal, its exposure and whether it is protected."""
    policies = len(profile["attached_policies"]) + len(profile["inline_policies"])
    parts = [f"{profile['kind']} {profile['name']}", f"{policies} policies"]
    if profile["kind"] == "user":
        active = sum(1 for key in profile["access_keys"] if key["status"] == "Active")
        parts += [
            f"{active} active keys",
            "MFA" if profile["mfa_devices"] else "no MFA",
            "console" if profile["console_access"] else "no console",
        ]
    else:
        parts.append(f"last used {profile['last_used'] or 'never'}")
    if profile["protected"]:
        parts.append("protected")
    return ", ".join(parts)


def _has_login_profile(name: str) -> bool:
    try:
        aws.client("iam").get_login_profile(UserName=name)
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True


def _paged(iam: Any, operation: str, key: str, **params: Any) -> list[Any]:
    found: list[Any] = []
    for page in iam.get_paginator(operation).paginate(**params):
        found.extend(page.get(key, []))
        if len(found) >= MAX_LISTED:
            break
    return found[:MAX_LISTED]


def _role_from_arn(arn: str | None) -> str | None:
    """``arn:aws:sts::123456789012:assumed-role/RoleName/session`` → ``RoleName``."""
    if not arn or ":assumed-role/" not in arn:
        return None
    parts = arn.split(":assumed-role/", 1)[1].split("/")
    return parts[0] or None


def _tags(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def _known(value: Any) -> str | None:
    # IAM answers "N/A" for a key that was never used.
    return value if isinstance(value, str) and value and value != "N/A" else None


def _age_days(moment: Any, now: datetime) -> int | None:
    return (now - moment.astimezone(UTC)).days if isinstance(moment, datetime) else None


def _iso(moment: Any) -> str | None:
    return store.iso(moment.astimezone(UTC)) if isinstance(moment, datetime) else None
