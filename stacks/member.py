"""The member stack: the roles through which the hub acts in an account, one per purpose.

Deployed once per account (IAM is global), in the hub's own account with ``cdk deploy`` and in the accounts of
organizational units with a StackSet (:mod:`stacks.stackset`). It holds no asset and needs no bootstrap
resource, so the same template works for both. Each role is trusted only by the exact hub function role that
acts for its purpose (``Tourniquet-Diagnose``, ``Tourniquet-Contain``, ``Tourniquet-Release`` in the hub's
account), with the ExternalId and, when the config names the organization, only from inside it.

- Diagnose: read-only (EC2 descriptions, CloudTrail events, CloudWatch metrics, Health events, the IAM
  principal an alert names).
- Contain: the containment calls (:mod:`stacks.containment`).
- Release: only the calls that put an undo record back.

The stack also owns the deny-all managed policy (``/tourniquet/TourniquetDenyAll``) that containment attaches
to a compromised user or role: the Contain role may attach that policy and no other.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, DefaultStackSynthesizer, Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import TourniquetConfig
from stacks.containment import MemberScope, grant_containment, grant_release
from stacks.nag import acknowledge
from stacks.names import (
    ASSUME_ACTIONS,
    DENY_ALL_POLICY_NAME,
    DENY_ALL_POLICY_PATH,
    PURPOSES,
    Purpose,
    hub_role_name,
    hub_roles_pattern,
)

# The hub's assumed sessions last an hour (tourniquet.aws); the role allows no longer.
MAX_SESSION = Duration.hours(1)

# Diagnostics only read: the instance, its status and volumes, CloudTrail, CloudWatch metrics, AWS Health, and
# the IAM principal an alert names.
DIAGNOSTIC_READS = (
    "ec2:Describe*",
    "cloudtrail:LookupEvents",
    "cloudwatch:GetMetricData",
    "health:DescribeEvents",
)
DIAGNOSTIC_IAM_READS = (
    "iam:GetUser",
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:ListMFADevices",
    "iam:ListAttachedUserPolicies",
    "iam:ListUserPolicies",
    "iam:ListGroupsForUser",
    "iam:GetLoginProfile",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetInstanceProfile",
)

_DESCRIPTIONS: dict[Purpose, str] = {
    "diagnose": "Tourniquet diagnostics: read-only, assumed by the hub's Diagnose function",
    "contain": "Tourniquet containment, assumed by the hub's Contain function",
    "release": "Tourniquet release (the undo of containment), assumed by the hub's Release function",
}


class MemberStack(Stack):
    """The Diagnose, Contain and Release roles of one account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Tourniquet member: the roles the hub assumes to act in this account",
            # No bootstrap version check: StackSets deploy this template into accounts never bootstrapped.
            synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            **kwargs,
        )
        # The product never contains itself.
        Tags.of(self).add(config.protected_tag_key, "true")
        self.config = config
        # Unset: the hub is in the account this stack is deployed in.
        self.hub_account = config.hub_account_id or Aws.ACCOUNT_ID
        names = config.member_role_names
        # What containment attaches to a compromised user or role (and release detaches): the one policy the
        # Contain role may attach, so that role can never grant anything by attaching a policy.
        self.deny_all_policy = iam.ManagedPolicy(
            self,
            "DenyAll",
            managed_policy_name=DENY_ALL_POLICY_NAME,
            path=DENY_ALL_POLICY_PATH,
            description="Tourniquet containment: denies everything to the user or role it is attached to",
            statements=[iam.PolicyStatement(effect=iam.Effect.DENY, actions=["*"], resources=["*"])],
        )
        self.member_scope = MemberScope(
            stack=self,
            regions=list(config.regions) or [Aws.REGION],
            protected_tag_key=config.protected_tag_key,
            own_roles=[hub_roles_pattern(), names.diagnose, names.contain, names.release],
            deny_all_policy_arn=self.deny_all_policy.managed_policy_arn,
        )
        self.roles: dict[Purpose, iam.Role] = {purpose: self._role(purpose) for purpose in PURPOSES}
        self._grant_diagnostics(self.roles["diagnose"])
        grant_containment(self.roles["contain"], self.member_scope)
        grant_release(self.roles["release"], self.member_scope)
        for purpose, role in self.roles.items():
            CfnOutput(self, f"{purpose.capitalize()}RoleArn", value=role.role_arn)
        CfnOutput(self, "DenyAllPolicyArn", value=self.deny_all_policy.managed_policy_arn)

    def hub_role_arn(self, purpose: Purpose) -> str:
        """The hub function role that alone may assume the member role for ``purpose``."""
        return self.format_arn(
            service="iam",
            region="",
            account=self.hub_account,
            resource="role",
            resource_name=hub_role_name(purpose),
        )

    def _role(self, purpose: Purpose) -> iam.Role:
        conditions: dict[str, Any] = {"StringEquals": {"sts:ExternalId": self.config.external_id}}
        if self.config.organization_id is not None:
            conditions["StringEquals"]["aws:PrincipalOrgID"] = self.config.organization_id
        principal = iam.ArnPrincipal(self.hub_role_arn(purpose))
        role = iam.Role(
            self,
            f"{purpose.capitalize()}Role",
            role_name=getattr(self.config.member_role_names, purpose),
            description=_DESCRIPTIONS[purpose],
            assumed_by=principal.with_conditions(conditions),
            max_session_duration=MAX_SESSION,
        )
        # The same statement names the session tags and the source identity the hub sets.
        role.assume_role_policy.add_statements(  # type: ignore[union-attr]
            iam.PolicyStatement(
                actions=[action for action in ASSUME_ACTIONS if action != "sts:AssumeRole"],
                principals=[principal],
                conditions=conditions,
            )
        )
        return role

    def _grant_diagnostics(self, role: iam.Role) -> None:
        policy = iam.Policy(role, "Permissions", roles=[role])
        # Resource "*": these reads have no resource-level permissions.
        policy.add_statements(iam.PolicyStatement(actions=list(DIAGNOSTIC_READS), resources=["*"]))
        policy.add_statements(
            iam.PolicyStatement(
                actions=list(DIAGNOSTIC_IAM_READS),
                resources=[
                    self.format_arn(service="iam", region="", resource=kind, resource_name="*")
                    for kind in ("user", "role", "instance-profile")
                ],
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "The EC2 Describe, CloudTrail LookupEvents, CloudWatch GetMetricData and Health DescribeEvents "
            "reads support only Resource '*'; the role holds no write.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Action::ec2:Describe*]",
            "Diagnostics read any EC2 description an investigation needs; Describe* grants reads only.",
        )
        for kind in ("user", "role", "instance-profile"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:{kind}/*]",
                "Diagnostics read the user, role or instance profile an alert names (known only at run "
                "time): Get and List calls only.",
            )
