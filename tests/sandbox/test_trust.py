"""AssumeRole in the sandbox is judged by the role's trust policy, as IAM judges it (moto does not)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.sts.models import sts_backends

from sandbox.core import Sandbox

HUB = "123456789012"
MEMBER = "111111111111"
STRANGER = "999999999999"
CALLER_ROLE = f"arn:aws:iam::{HUB}:role/Responder"
_roles = iter(range(1, 1000))


def _session(sandbox: Sandbox, role_arn: str | None = None) -> Any:
    """An STS client signed by a session of ``role_arn`` (made as a service would make it, without
    AssumeRole), or by the sandbox's own credentials (the hub account's root)."""
    credentials: dict[str, str] = {}
    if role_arn is not None:
        account = role_arn.split(":")[4]
        session = sts_backends[account]["aws"].assume_role(
            region_name="eu-west-1",
            role_session_name="caller",
            role_arn=role_arn,
            policy="",
            duration=900,
            external_id="",
        )
        credentials = {
            "aws_access_key_id": session.access_key_id,
            "aws_secret_access_key": session.secret_access_key,
            "aws_session_token": session.session_token,
        }
    return boto3.session.Session().client(
        "sts", endpoint_url=sandbox.endpoint_url, region_name="eu-west-1", **credentials
    )


def _role(sandbox: Sandbox, *statements: dict[str, Any], account: str = MEMBER) -> str:
    """A role in ``account`` whose trust policy has ``statements``; returns its ARN."""
    iam = sandbox.account_client("iam", account)
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    name = f"trust-test-{next(_roles)}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"])


def _allow(principal: Any, condition: dict[str, Any] | None = None, action: Any = "sts:AssumeRole") -> dict:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement


def _refusal(sts: Any, role_arn: str, **arguments: Any) -> str | None:
    try:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="trust-test", **arguments)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"
        return str(exc.response["Error"]["Message"])
    return None


def test_the_role_a_trust_policy_names_may_assume_it_and_no_other_caller(sandbox: Sandbox):
    role = _role(sandbox, _allow({"AWS": CALLER_ROLE}, {"StringEquals": {"sts:ExternalId": "xid"}}))

    assert _refusal(_session(sandbox, CALLER_ROLE), role, ExternalId="xid") is None
    assert _refusal(_session(sandbox, CALLER_ROLE), role, ExternalId="other") == (
        f"User: arn:aws:sts::{HUB}:assumed-role/Responder/caller is not authorized to perform: "
        f"sts:AssumeRole on resource: {role}"
    )
    assert _refusal(_session(sandbox, CALLER_ROLE), role) is not None
    assert _refusal(_session(sandbox, f"arn:aws:iam::{HUB}:role/Other"), role, ExternalId="xid") is not None
    assert _refusal(_session(sandbox), role, ExternalId="xid") == (
        f"User: arn:aws:iam::{HUB}:root is not authorized to perform: sts:AssumeRole on resource: {role}"
    )


def test_a_role_that_does_not_exist_cannot_be_assumed(sandbox: Sandbox):
    missing = f"arn:aws:iam::{MEMBER}:role/NoSuchRole"

    assert _refusal(_session(sandbox, CALLER_ROLE), missing) is not None


def test_an_account_principal_trusts_every_identity_of_that_account(sandbox: Sandbox):
    role = _role(sandbox, _allow({"AWS": f"arn:aws:iam::{HUB}:root"}))

    assert _refusal(_session(sandbox), role) is None
    assert _refusal(_session(sandbox, CALLER_ROLE), role) is None
    assert _refusal(_session(sandbox, f"arn:aws:iam::{STRANGER}:role/Responder"), role) is not None


def test_the_principals_organization_is_checked(sandbox: Sandbox):
    organization = sandbox.organization
    assert organization is not None
    role = _role(sandbox, _allow({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": organization.id}}))

    assert _refusal(_session(sandbox, f"arn:aws:iam::{MEMBER}:role/Responder"), role) is None
    assert _refusal(_session(sandbox, f"arn:aws:iam::{STRANGER}:role/Responder"), role) is not None


def test_session_tags_and_source_identity_need_their_own_grants(sandbox: Sandbox):
    bare = _role(sandbox, _allow({"AWS": CALLER_ROLE}))
    full = _role(sandbox, _allow({"AWS": CALLER_ROLE}, action=["sts:AssumeRole", "sts:TagSession"]))
    sts = _session(sandbox, CALLER_ROLE)
    tags = [{"Key": "incident", "Value": "inc-1"}]

    assert _refusal(sts, bare) is None
    assert "sts:TagSession" in (_refusal(sts, bare, Tags=tags) or "")
    assert _refusal(sts, full, Tags=tags) is None
    assert "sts:SetSourceIdentity" in (_refusal(sts, full, SourceIdentity="inc-1") or "")


@pytest.mark.parametrize(
    "condition",
    [{"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {"StringEquals": {"aws:SourceVpc": "vpc-1"}}],
    ids=["unknown-operator", "key-the-request-does-not-carry"],
)
def test_a_condition_the_sandbox_cannot_meet_refuses(sandbox: Sandbox, condition: dict[str, Any]):
    role = _role(sandbox, _allow({"AWS": CALLER_ROLE}, condition))

    assert _refusal(_session(sandbox, CALLER_ROLE), role) is not None


def test_a_deny_statement_wins(sandbox: Sandbox):
    role = _role(
        sandbox,
        _allow({"AWS": f"arn:aws:iam::{HUB}:root"}),
        {"Effect": "Deny", "Principal": {"AWS": CALLER_ROLE}, "Action": "sts:AssumeRole"},
    )

    assert _refusal(_session(sandbox), role) is None
    assert _refusal(_session(sandbox, CALLER_ROLE), role) is not None
