"""Containment actions on the IAM principal behind a compromised access key.

- ``deactivate_access_key``: the user's key set Inactive (reversible, unlike deleting it);
- ``attach_deny_policy``: the member stack's deny-all managed policy attached to the user;
- ``revoke_sessions``: a deny on the principal's credentials issued before now, for a user (its session
  tokens) or for an assumed role (every session of the role);
- ``disable_console_login`` (approval): the user's console password deleted.

Each inline policy is named for the incident, so releasing one incident never removes another's policy. The
deny-all is one managed policy per account: release detaches it only if this incident attached it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.containment import iam
from tourniquet.containment.actions import Action, Context
from tourniquet.containment.iam import Principal
from tourniquet.containment.model import Call

ACCESS_KEY = "AwsIamAccessKey"


def _users_only(action: str, principal: Principal) -> None:
    if principal.kind != "user":
        raise errors.ContainmentFailed(
            f"{action} applies to IAM users; role {principal.name} is contained with revoke_sessions"
        )


class DeactivateAccessKey(Action[Principal]):
    name = "deactivate_access_key"
    target_type = ACCESS_KEY

    def read(self, ctx: Context, principal: Principal) -> dict[str, Any]:
        _users_only(self.name, principal)
        pages = iam.client().get_paginator("list_access_keys").paginate(UserName=principal.name)
        keys = {key["AccessKeyId"]: key for page in pages for key in page["AccessKeyMetadata"]}
        if ctx.target_id not in keys:
            raise errors.TargetNotFound(f"user {principal.name} has no access key {ctx.target_id}")
        return {
            "principal": principal.state(),
            "access_key_id": ctx.target_id,
            "status": keys[ctx.target_id]["Status"],
        }

    def _status_call(self, state: dict[str, Any], status: str) -> list[Call]:
        if state["status"] == status:
            return []
        return [
            Call(
                service="iam",
                operation="UpdateAccessKey",
                params={
                    "UserName": state["principal"]["name"],
                    "AccessKeyId": state["access_key_id"],
                    "Status": status,
                },
            )
        ]

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        return self._status_call(state, "Inactive")

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        return [] if state["status"] == "Inactive" else [f"{state['access_key_id']} is {state['status']}"]

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        return self._status_call(now, before["status"])

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        if now["status"] == before["status"]:
            return []
        return [f"{now['access_key_id']} is {now['status']}, expected {before['status']}"]


class AttachDenyPolicy(Action[Principal]):
    name = "attach_deny_policy"
    target_type = ACCESS_KEY

    def read(self, ctx: Context, principal: Principal) -> dict[str, Any]:
        _users_only(self.name, principal)
        policy = iam.deny_all_policy_arn()
        return {
            "principal": principal.state(),
            "policy_arn": policy,
            "attached": policy in iam.attached_policies(principal.kind, principal.name),
        }

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if state["attached"]:
            return []
        principal = state["principal"]
        return [iam.attach_policy_call(principal["kind"], principal["name"], state["policy_arn"])]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        if state["attached"]:
            return []
        principal = state["principal"]
        return [f"{principal['kind']} {principal['name']} lacks the policy {state['policy_arn']}"]

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        # Attached before this incident (by another, or by a person): not this incident's to take away.
        if before["attached"] or not now["attached"]:
            return []
        return [iam.detach_user_policy_call(now["principal"]["name"], now["policy_arn"])]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        if not before["attached"] and now["attached"]:
            principal = now["principal"]
            return [f"{principal['kind']} {principal['name']} still has {now['policy_arn']}"]
        return []


class RevokeSessions(Action[Principal]):
    """Users: their temporary credentials (GetSessionToken, federation) issued before now stop working.
    Assumed roles: every session of the role issued before now, the stolen one included.

    An inline policy named for the incident, because its text names the moment of revocation; release
    deletes it.
    """

    name = "revoke_sessions"
    target_type = ACCESS_KEY
    prefix = "tourniquet-revoke-sessions"

    def read(self, ctx: Context, principal: Principal) -> dict[str, Any]:
        policy = iam.policy_name(self.prefix, ctx.incident_id)
        return {
            "principal": principal.state(),
            "policy_name": policy,
            "policy": iam.inline_policy(principal.kind, principal.name, policy),
        }

    def _in_force(self, state: dict[str, Any]) -> bool:
        return iam.revocation_cutoff(state["policy"]) is not None

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if self._in_force(state):
            return []
        principal = state["principal"]
        document = iam.revoke_older_sessions(store.iso())
        return [iam.put_policy_call(principal["kind"], principal["name"], state["policy_name"], document)]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        if self._in_force(state):
            return []
        principal = state["principal"]
        return [f"{principal['kind']} {principal['name']} lacks the policy {state['policy_name']}"]

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "revoked_before": iam.revocation_cutoff(state["policy"])}

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        if before["policy"] is not None or now["policy"] is None:
            return []
        principal = now["principal"]
        return [iam.delete_policy_call(principal["kind"], principal["name"], now["policy_name"])]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        if before["policy"] is None and now["policy"] is not None:
            principal = now["principal"]
            return [f"{principal['kind']} {principal['name']} still has {now['policy_name']}"]
        return []


_CONSOLE_NOT_RESTORABLE = (
    "a deleted console password cannot be restored: release leaves console login off, and an administrator "
    "sets a new password (CreateLoginProfile, reset required) if the user needs the console again"
)


class DisableConsoleLogin(Action[Principal]):
    name = "disable_console_login"
    target_type = ACCESS_KEY
    destructive = True
    kept = _CONSOLE_NOT_RESTORABLE

    def read(self, ctx: Context, principal: Principal) -> dict[str, Any]:
        _users_only(self.name, principal)
        try:
            profile = iam.client().get_login_profile(UserName=principal.name)["LoginProfile"]
        except ClientError as exc:
            if aws.error_code(exc) != "NoSuchEntity":
                raise
            login = None
        else:
            created = profile.get("CreateDate")
            login = {
                "created": store.iso(created.astimezone(UTC)) if created is not None else None,
                "password_reset_required": bool(profile.get("PasswordResetRequired", False)),
            }
        return {"principal": principal.state(), "login_profile": login, "release": _CONSOLE_NOT_RESTORABLE}

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if state["login_profile"] is None:
            return []
        return [
            Call(
                service="iam", operation="DeleteLoginProfile", params={"UserName": state["principal"]["name"]}
            )
        ]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        return (
            [] if state["login_profile"] is None else [f"user {state['principal']['name']} can still log in"]
        )

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        return []

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        return []


ACTIONS: dict[str, Action[Principal]] = {
    action.name: action
    for action in (DeactivateAccessKey(), AttachDenyPolicy(), RevokeSessions(), DisableConsoleLogin())
}
