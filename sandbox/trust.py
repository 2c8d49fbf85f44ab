"""Role trust policies, which moto's STS does not evaluate, evaluated for ``AssumeRole`` as IAM does.

moto hands out credentials for any role ARN, whether the role exists or trusts the caller. The sandbox is an
organization whose member roles trust exactly one hub role each, with an ExternalId: without this check a
missing member stack or a wrong ExternalId would go unnoticed in the sandbox and fail only in AWS.

:func:`install` makes ``AssumeRole`` answer ``AccessDenied`` (in AWS's words) unless the role exists and its
trust policy allows the caller: the principal (the role behind an assumed-role session, an IAM user, or the
account's root for the account's own credentials), the conditions on ``sts:ExternalId``,
``aws:PrincipalOrgID``, ``aws:PrincipalAccount`` and ``aws:PrincipalArn``, and ``sts:TagSession`` and
``sts:SetSourceIdentity`` when the request sets session tags or a source identity. A condition the sandbox
cannot evaluate is not met: trust fails closed.

:func:`caller` names whoever signed a request; the call recorder (:mod:`sandbox.calls`) uses it too.
"""

from __future__ import annotations

import fnmatch
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core.exceptions import AccessDeniedError
from moto.core.responses import BaseResponse
from moto.iam.models import iam_backends
from moto.organizations.models import organizations_backends
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse

from sandbox.patches import Patcher

_ROLE_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?P<path_name>.+)$")
_ACCOUNT_ROOT = re.compile(r"^(?:arn:[\w-]+:iam::)?(?P<account>\d{12})(?::root)?$")
# The condition operators the sandbox evaluates; any other makes its statement not apply (fail closed).
_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": operator.eq,
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": operator.eq,
    "ArnLike": fnmatch.fnmatchcase,
}
_NEGATED: dict[str, str] = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


@dataclass(frozen=True)
class Caller:
    """Whoever signed a request, as IAM sees them."""

    account: str
    principal_arn: str
    """What a policy's ``Principal`` names: a role's ARN for its sessions, a user's ARN, or the account's
    root."""
    display_arn: str
    """What an error message or CloudTrail shows: the session's ARN for an assumed role."""

    @property
    def is_root(self) -> bool:
        return self.principal_arn.endswith(":root")


def caller(response: BaseResponse) -> Caller:
    """The principal behind the access key that signed ``response``'s request."""
    access_key = response.get_access_key()
    account = response.current_account
    partition = response.partition
    assumed = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        return Caller(account, str(assumed.role_arn), str(assumed.arn))
    user = iam_backends[account][partition].get_user_from_access_key_id(access_key)
    if user is not None:
        return Caller(account, str(user.arn), str(user.arn))
    root = f"arn:{partition}:iam::{account}:root"
    return Caller(account, root, root)


def organization_of(account: str, partition: str = "aws") -> str | None:
    """The id of the organization ``account`` belongs to, if any."""
    master = organizations_backends.master_accounts.get(account)
    backend = organizations_backends[master[0] if master else account][partition]
    organization = backend.org
    return str(organization.id) if organization is not None else None


def refusal(
    role_arn: str,
    who: Caller,
    *,
    external_id: str | None,
    tagging: bool,
    source_identity: bool,
    partition: str = "aws",
) -> str | None:
    """Why ``who`` may not assume ``role_arn`` (AWS's AccessDenied message), or None when the role trusts
    it."""
    denied = f"User: {who.display_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    policy = _trust_policy(role_arn, partition)
    if policy is None:
        return denied
    context = {
        "sts:ExternalId": external_id,
        "aws:PrincipalAccount": who.account,
        "aws:PrincipalArn": who.principal_arn,
        "aws:PrincipalOrgID": organization_of(who.account, partition),
    }
    needed = ["sts:AssumeRole"]
    if tagging:
        needed.append("sts:TagSession")
    if source_identity:
        needed.append("sts:SetSourceIdentity")
    statements = _statements(policy)
    for action in needed:
        applicable = [s for s in statements if _applies(s, action, who, context)]
        if any(s.get("Effect") == "Deny" for s in applicable):
            return denied
        if not any(s.get("Effect") == "Allow" for s in applicable):
            if action == "sts:AssumeRole":
                return denied
            return f"User: {who.display_arn} is not authorized to perform: {action} on resource: {role_arn}"
    return None


def _trust_policy(role_arn: str, partition: str) -> Any | None:
    """The trust policy of the role ``role_arn``; None when there is no such role."""
    matched = _ROLE_ARN.match(role_arn)
    if matched is None:
        return None
    try:
        role = iam_backends[matched["account"]][partition].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto raises its own NotFound types; any failure means no such role
        return None
    document = role.assume_role_policy_document
    try:
        return json.loads(document if document.lstrip().startswith("{") else unquote(document))
    except (AttributeError, ValueError):
        return None


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _applies(
    statement: Mapping[str, Any], action: str, who: Caller, context: Mapping[str, str | None]
) -> bool:
    if "NotAction" in statement or "NotPrincipal" in statement:
        return False  # not needed by any trust policy here; never read as a grant
    actions = _listed(statement.get("Action"))
    if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions):
        return False
    return _names(statement.get("Principal"), who) and _conditions(statement.get("Condition"), context)


def _names(principal: Any, who: Caller) -> bool:
    """Whether a statement's ``Principal`` covers ``who`` (a service or federated principal never signs
    here)."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for name in _listed(principal.get("AWS")):
        if name in ("*", who.principal_arn):
            return True
        account = _ACCOUNT_ROOT.match(name)
        # The account as principal: any identity of that account, as its own policies allow.
        if account is not None and account["account"] == who.account:
            return True
    return False


def _conditions(block: Any, context: Mapping[str, str | None]) -> bool:
    if block is None:
        return True
    if not isinstance(block, dict):
        return False
    return all(_condition(name, tests, context) for name, tests in block.items())


def _condition(name: str, tests: Any, context: Mapping[str, str | None]) -> bool:
    """One condition operator's tests, each met (an operator the sandbox does not know is not met)."""
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    negated = base in _NEGATED
    compare = _OPERATORS.get(_NEGATED.get(base, base))
    if compare is None or not isinstance(tests, dict):
        return False
    for key, expected in tests.items():
        actual = context.get(key)
        if actual is None:
            # A key the request does not carry: only a negated or ...IfExists test is met.
            if not (negated or if_exists):
                return False
            continue
        if any(compare(actual, value) for value in _listed(expected)) == negated:
            return False
    return True


class _AccessDenied(AccessDeniedError):
    """STS's AccessDenied (HTTP 403) with IAM's own message."""

    def __init__(self, message: str) -> None:
        super(AccessDeniedError, self).__init__("AccessDenied", message)


def install(patcher: Patcher) -> None:
    """Make moto's ``AssumeRole`` refuse whoever the role's trust policy does not allow."""
    original = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        reason = refusal(
            str(self._get_param("RoleArn") or ""),
            caller(self),
            external_id=self._get_param("ExternalId"),
            tagging=bool(self._get_param("Tags")),
            source_identity=bool(self._get_param("SourceIdentity")),
            partition=self.partition,
        )
        if reason is not None:
            raise _AccessDenied(reason)
        return original(self)

    patcher.set(TokenResponse, "assume_role", assume_role)
