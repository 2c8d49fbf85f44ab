"""The member stack's containment and release roles: exactly the calls the containment actions make, or the
calls their release makes, each scoped as far as IAM allows (the member's own account, the configured
regions), with explicit denies on the protected tag and on Tourniquet's own roles.

The containment calls are those the runtime package plans (``tourniquet.containment``): ``tests/infra`` reads
them from its source and fails when this module grants one too few or one too many. The release calls are
recorded while every action is released against moto (``tests/handlers/test_release.py``), which fails on a
call outside ``RELEASE_ACTIONS`` or a grant no release uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from stacks.nag import acknowledge
from stacks.names import (
    ACTION_SESSION_TAG,
    DENY_ALL_POLICY_NAME,
    DENY_ALL_POLICY_PATH,
    EVIDENCE_TAG,
    EVIDENCE_TAG_KEYS,
    GROUP_TAG_KEYS,
    LIFT_PROTECTION_ACTION,
    MANAGED_TAG,
    MARK_TAG_KEYS,
)

# Containment changes security-group rules only on the groups it created, which it tags (MANAGED_TAG) only as
# it creates them. Every tag it writes or removes has one of the keys in stacks.names, each set only where
# the runtime writes it: the mark on the instance, its volumes and ENIs; evidence tags on snapshots; the
# group tags on the groups it creates.
__all__ = [
    "DENY_ALL_POLICY_NAME",
    "DENY_ALL_POLICY_PATH",
    "EVIDENCE_TAG_KEYS",
    "GROUP_TAG_KEYS",
    "MANAGED_TAG",
    "MARK_TAG_KEYS",
]
# What the mark goes on: the instance and what hangs off it.
MARKED_RESOURCES = ("instance", "volume", "network-interface")
# The deny-all role and instance profile that replace a contained instance's own (shared, outside the stack).
QUARANTINE_PATH = "/tourniquet/"
QUARANTINE_NAME = "tourniquet-quarantine"

SECURITY_GROUP_RULE_ACTIONS = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
)
TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
# Instances and what hangs off them: evidence, isolation, stopping, addresses and instance profiles.
EC2_ACTIONS = (
    "ec2:ModifyInstanceAttribute",
    "ec2:CreateSnapshot",
    "ec2:CreateSnapshots",
    "ec2:CreateSecurityGroup",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:AssociateAddress",
    "ec2:DisassociateAddress",
    "ec2:AssociateIamInstanceProfile",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
)
# Creations, allowed only for what containment creates, tagged as such in the creating request.
SNAPSHOT_CREATION = ("ec2:CreateSnapshot", "ec2:CreateSnapshots")
GROUP_CREATION = ("ec2:CreateSecurityGroup",)
SCALING_ACTIONS = ("autoscaling:DetachInstances", "autoscaling:AttachInstances")
LOAD_BALANCER_ACTIONS = (
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
)
# The principal behind a leaked key or a compromised role: deny policies, key deactivation, console login.
# Writing an inline policy cannot be bounded by what the policy says, so Put/Delete User/Role Policy stay only
# for the session revocation, whose text carries the time before which tokens are refused; the deny-all is
# the member stack's managed policy, attached (below).
USER_ACTIONS = ("iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:UpdateAccessKey", "iam:DeleteLoginProfile")
ROLE_POLICY_ACTIONS = ("iam:PutRolePolicy", "iam:DeleteRolePolicy")
# Attaching and detaching the member stack's deny-all policy (DENY_ALL_POLICY_NAME), and no other policy
# (iam:PolicyARN). Granted ahead of the runtime, which still writes the deny-all as inline text: once it
# attaches the policy instead, these join CONTAINMENT_ACTIONS and RELEASE_ACTIONS (tests/infra says when).
# The member stack's deny-all policy: attached to a compromised user (detached by release), and to the
# quarantine role, which keeps it.
DENY_ALL_USER_ACTIONS = ("iam:AttachUserPolicy", "iam:DetachUserPolicy")
DENY_ALL_QUARANTINE_ACTIONS = ("iam:AttachRolePolicy",)
QUARANTINE_ROLE_ACTIONS = ("iam:CreateRole", "iam:TagRole")
QUARANTINE_PROFILE_ACTIONS = ("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile")

CONTAINMENT_ACTIONS = (
    *TAG_ACTIONS,
    *EC2_ACTIONS,
    *SECURITY_GROUP_RULE_ACTIONS,
    *SCALING_ACTIONS,
    *LOAD_BALANCER_ACTIONS,
    *USER_ACTIONS,
    *ROLE_POLICY_ACTIONS,
    *QUARANTINE_ROLE_ACTIONS,
    *QUARANTINE_PROFILE_ACTIONS,
    *DENY_ALL_USER_ACTIONS,
    *DENY_ALL_QUARANTINE_ACTIONS,
    "iam:PassRole",
)
# Starting an instance whose volumes are encrypted with a customer-managed key has EC2 create a KMS grant on
# the key, as the caller: without it the instance goes from pending back to stopped. Creating a snapshot of
# an encrypted volume needs no key permission (the snapshot reuses the volume's data key), nor does
# stopping, so containment has no such grant.
KEY_GRANT_ACTIONS = ("kms:CreateGrant",)
# What release calls to put each undo record back: untag, evidence settings, groups per ENI, the address, the
# instance's own profile (passing its own role to EC2), start (with the key grant it implies), rejoin the
# fleet, reactivate the key and delete the incident's deny policies. Nothing that creates, stops, detaches or
# writes a policy.
RELEASE_ACTIONS = (
    *TAG_ACTIONS,
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:StartInstances",
    *KEY_GRANT_ACTIONS,
    "ec2:AssociateAddress",
    "ec2:AssociateIamInstanceProfile",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "autoscaling:AttachInstances",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
    "iam:UpdateAccessKey",
    "iam:DeleteUserPolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachUserPolicy",
    "iam:PassRole",
)
READ_ACTIONS = (
    "ec2:Describe*",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
)
IAM_READ_ACTIONS = (
    "iam:GetUser",
    "iam:ListUserTags",
    "iam:GetUserPolicy",
    "iam:ListAttachedUserPolicies",
    "iam:GetLoginProfile",
    "iam:ListAccessKeys",
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetInstanceProfile",
)

# Creating the empty quarantine group changes nothing that exists, so a protected VPC does not block it.
_READS = frozenset((*READ_ACTIONS, *IAM_READ_ACTIONS))

PROTECTED_EC2_ACTIONS = tuple(
    a for a in (*TAG_ACTIONS, *EC2_ACTIONS, *SECURITY_GROUP_RULE_ACTIONS) if a != "ec2:CreateSecurityGroup"
)
PROTECTED_EC2_RESOURCES = ("instance", "volume", "network-interface", "security-group", "elastic-ip")
# What would change a role's permissions, trust or tags.
ROLE_CHANGING_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:UpdateRole",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
)
# Passing a role changes nothing about it: release hands an instance its own role back even when that role
# is protected. Tourniquet's own roles are never passed, nor changed.
PROTECTED_IAM_ACTIONS = (
    *USER_ACTIONS,
    "iam:AttachUserPolicy",
    "iam:DetachUserPolicy",
    *ROLE_CHANGING_ACTIONS,
)
OWN_ROLE_DENIED_ACTIONS = (*ROLE_CHANGING_ACTIONS, "iam:PassRole")


@dataclass(frozen=True)
class MemberScope:
    """Where a member role acts and what it must never touch.

    ``regions`` are the regions it may act in (names, or the deploying region's token); ``own_roles`` are
    the names (or ``*`` patterns) of Tourniquet's own roles in the account, which it never changes or passes;
    ``deny_all_policy_arn`` is the member stack's deny-all policy, the one policy it may attach.
    """

    stack: Stack
    regions: Sequence[str]
    protected_tag_key: str
    own_roles: Sequence[str]
    # The member stack's managed policy that denies everything: the one policy containment may attach.
    deny_all_policy_arn: str

    def arn(
        self,
        service: str,
        resource: str,
        name: str | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
        arn_format: ArnFormat | None = None,
    ) -> str:
        """An ARN of this account; regional ones in any region (``aws:RequestedRegion`` bounds the writes)."""
        return self.stack.format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            account=account,
            region="*" if region is None else region,
            arn_format=arn_format,
        )

    @property
    def in_regions(self) -> dict[str, object]:
        """The condition that holds a regional call to the configured regions."""
        return {"StringEquals": {"aws:RequestedRegion": list(self.regions)}}


def grant_containment(role: iam.Role, scope: MemberScope) -> None:
    """Give ``role`` the containment calls, scoped to its account and the configured regions, and the denies
    on the protected tag and on Tourniquet's own roles."""
    _Grants(role, scope, release=False).grant()


def grant_release(role: iam.Role, scope: MemberScope) -> None:
    """Give ``role`` the release calls only, under the same scoping and the same denies as containment."""
    _Grants(role, scope, release=True).grant()


def _merged(*conditions: dict[str, object] | None) -> dict[str, object]:
    """One condition block from several (operators merged key by key)."""
    merged: dict[str, dict[str, object]] = {}
    for condition in conditions:
        for operator, keys in (condition or {}).items():
            assert isinstance(keys, dict)
            merged.setdefault(operator, {}).update(keys)
    return dict(merged)


class _Grants:
    """One member role's policies: the calls of containment (or of release), then the backstop denies.

    The calls go into one inline policy of the role's own (AWS::IAM::Policy): IAM allows 10,240 characters of
    inline policy per role, which the infra tests hold the largest configuration to. (A role's default policy
    would be split by the CDK's pessimistic size estimate into managed overflow policies.) The denies go into
    a managed policy of the role's own (6,144 characters), so the two grow apart.
    """

    def __init__(self, role: iam.Role, scope: MemberScope, *, release: bool) -> None:
        self.policy = iam.Policy(role, "Permissions", roles=[role])
        self.backstop_policy = iam.ManagedPolicy(
            role,
            "Backstops",
            roles=[role],
            description="Tourniquet member role: what it never may, whatever its other policy allows",
        )
        self.role = role
        self.scope = scope
        self.release = release
        self.granted = _READS | set(RELEASE_ACTIONS if release else CONTAINMENT_ACTIONS)
        arn = scope.arn
        self.account_ec2 = arn("ec2", "*")
        # New snapshots, whose ARNs carry no account.
        self.snapshots = arn("ec2", "snapshot", "*", account="")
        self.users = arn("iam", "user", "*", region="")
        self.roles = arn("iam", "role", "*", region="")
        self.scaling_groups = arn(
            "autoscaling", "autoScalingGroup", "*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        self.balancing = [
            arn("elasticloadbalancing", "targetgroup", "*"),
            arn("elasticloadbalancing", "loadbalancer", "*"),
        ]
        quarantine = f"{QUARANTINE_PATH.strip('/')}/{QUARANTINE_NAME}"
        self.quarantine_role = arn("iam", "role", quarantine, region="")
        self.quarantine_profile = arn("iam", "instance-profile", quarantine, region="")

    def grant(self) -> None:
        # Resource "*": these Describe calls have no resource-level permissions. Reads change nothing: any
        # region.
        self.allow(READ_ACTIONS, ["*"], regional=False)
        self.allow(
            IAM_READ_ACTIONS,
            [self.users, self.roles, self.scope.arn("iam", "instance-profile", "*", region="")],
            regional=False,
        )
        self.ec2()
        self.iam()
        if not self.release:
            self.lift_protection()
        self.backstops()
        _acknowledge(self.role, release=self.release)

    # --- statements ----------------------------------------------------------------------------------------

    def allow(
        self,
        actions: Iterable[str],
        resources: list[str],
        conditions: dict[str, object] | None = None,
        *,
        regional: bool = True,
    ) -> None:
        """Allow those of ``actions`` this role is granted; a regional call only in the configured regions."""
        chosen = [action for action in actions if action in self.granted]
        if chosen:
            self.policy.add_statements(
                iam.PolicyStatement(
                    actions=chosen,
                    resources=resources,
                    conditions=_merged(conditions, self.scope.in_regions if regional else None) or None,
                )
            )

    def deny(self, actions: Iterable[str], resources: list[str], conditions: dict[str, object]) -> None:
        self.backstop_policy.add_statements(
            iam.PolicyStatement(
                effect=iam.Effect.DENY, actions=list(actions), resources=resources, conditions=conditions
            )
        )

    def tags(self, actions: Iterable[str], resources: list[str], keys: Iterable[str], **also: object) -> None:
        """Tagging with exactly these keys. DeleteTags without keys deletes every tag, and ForAllValues
        holds for no keys at all, so the keys must be named (Null)."""
        conditions: dict[str, object] = {
            "ForAllValues:StringEquals": {"aws:TagKeys": list(keys)},
            "Null": {"aws:TagKeys": "false"},
        }
        if also:
            conditions["StringEquals"] = also
        self.allow(actions, resources, conditions)

    # --- what it may do ------------------------------------------------------------------------------------

    def ec2(self) -> None:
        arn = self.scope.arn
        creating = (*SNAPSHOT_CREATION, *GROUP_CREATION)
        self.allow([action for action in EC2_ACTIONS if action not in creating], [self.account_ec2])
        # Snapshots only as evidence (release never touches them), of whichever instance's volumes.
        self.allow(
            SNAPSHOT_CREATION, [self.snapshots], {"StringEquals": {f"aws:RequestTag/{EVIDENCE_TAG}": "true"}}
        )
        self.allow(SNAPSHOT_CREATION, [arn("ec2", "instance", "*"), arn("ec2", "volume", "*")])
        # Security groups only as Tourniquet's own, in whichever VPC the instance is in.
        self.allow(
            GROUP_CREATION,
            [arn("ec2", "security-group", "*")],
            {"StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"}},
        )
        self.allow(GROUP_CREATION, [arn("ec2", "vpc", "*")])
        # Tags only under containment's own keys, each where containment writes it: never the protected tag.
        self.tags(TAG_ACTIONS, [arn("ec2", kind, "*") for kind in MARKED_RESOURCES], MARK_TAG_KEYS)
        if not self.release:
            self.tags(["ec2:CreateTags"], [self.snapshots], EVIDENCE_TAG_KEYS)
            # The managed tag only as containment creates its group: on an existing group it would open the
            # group's rules to this role.
            self.tags(
                ["ec2:CreateTags"],
                [arn("ec2", "security-group", "*")],
                GROUP_TAG_KEYS,
                **{"ec2:CreateAction": "CreateSecurityGroup"},
            )
        # Opening or closing rules only on the groups containment created: a role that may open all traffic
        # must not be able to do so on a production group. The rules carry no tags; the group decides.
        self.allow(
            SECURITY_GROUP_RULE_ACTIONS,
            [arn("ec2", "security-group", "*")],
            {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}},
        )
        self.allow(SECURITY_GROUP_RULE_ACTIONS, [arn("ec2", "security-group-rule", "*")])
        self.allow(SCALING_ACTIONS, [self.scaling_groups])
        self.allow(LOAD_BALANCER_ACTIONS, self.balancing)
        # Only grants EC2 creates for its own use (the volumes of the instance it starts), on this account's
        # keys, through EC2 in the configured regions.
        self.allow(
            KEY_GRANT_ACTIONS,
            [arn("kms", "key", "*")],
            {
                "Bool": {"kms:GrantIsForAWSResource": "true"},
                "StringEquals": {
                    "kms:ViaService": [f"ec2.{region}.amazonaws.com" for region in self.scope.regions]
                },
            },
            regional=False,
        )

    def iam(self) -> None:
        # IAM is global: its calls are not bound to a region.
        self.allow(USER_ACTIONS, [self.users], regional=False)
        self.allow(ROLE_POLICY_ACTIONS, [self.roles], regional=False)
        # The deny-all is attached, never written: only the member stack's own policy, on users and on the
        # quarantine role.
        deny_all: dict[str, object] = {"ArnEquals": {"iam:PolicyARN": self.scope.deny_all_policy_arn}}
        self.allow(DENY_ALL_USER_ACTIONS, [self.users], deny_all, regional=False)
        self.allow(DENY_ALL_QUARANTINE_ACTIONS, [self.quarantine_role], deny_all, regional=False)
        # The quarantine role only as Tourniquet's own (containment reuses a role of that name only if it
        # carries the managed tag).
        self.allow(
            QUARANTINE_ROLE_ACTIONS,
            [self.quarantine_role],
            {
                "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
                "ForAllValues:StringEquals": {"aws:TagKeys": [MANAGED_TAG]},
            },
            regional=False,
        )
        self.allow(QUARANTINE_PROFILE_ACTIONS, [self.quarantine_profile], regional=False)
        # Adding the quarantine role to its profile passes it; swapping profiles passes a role to EC2, and
        # release hands an instance its own role back, which may be any role of the account.
        if not self.release:
            self.allow(["iam:PassRole"], [self.quarantine_role], regional=False)
        self.allow(
            ["iam:PassRole"],
            [self.roles],
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            regional=False,
        )

    def lift_protection(self) -> None:
        """The one way the protected tag comes off: DeleteTags of that key alone, on an instance, in a session
        tagged for lifting it (which the hub opens only for an approved lift_protection)."""
        self.tags(
            ["ec2:DeleteTags"],
            [self.scope.arn("ec2", "instance", "*")],
            [self.scope.protected_tag_key],
            **{f"aws:PrincipalTag/{ACTION_SESSION_TAG}": LIFT_PROTECTION_ACTION},
        )

    # --- what it never may ---------------------------------------------------------------------------------

    def backstops(self) -> None:
        """Behind the handler's own checks: whatever carries the protected tag is never touched, the
        protected tag itself is never written or removed, and Tourniquet's own roles are never changed or
        passed."""
        protected: dict[str, object] = {"Null": {f"aws:ResourceTag/{self.scope.protected_tag_key}": "false"}}
        protected_key: dict[str, object] = {
            "ForAnyValue:StringEquals": {"aws:TagKeys": [self.scope.protected_tag_key]}
        }
        protected_ec2 = [self.scope.arn("ec2", kind, "*") for kind in PROTECTED_EC2_RESOURCES]
        # Removing tags is denied alike, except in a session tagged for lifting a protection (whose allow
        # names the protected key alone, on instances); a missing session tag denies (StringNotEquals).
        not_lifting: dict[str, object] = {
            "StringNotEquals": {f"aws:PrincipalTag/{ACTION_SESSION_TAG}": LIFT_PROTECTION_ACTION}
        }
        self.deny(["ec2:CreateTags"], ["*"], protected_key)
        self.deny(["ec2:DeleteTags"], ["*"], _merged(protected_key, not_lifting))
        self.deny([a for a in PROTECTED_EC2_ACTIONS if a != "ec2:DeleteTags"], protected_ec2, protected)
        self.deny(["ec2:DeleteTags"], protected_ec2, _merged(protected, not_lifting))
        self.deny(PROTECTED_IAM_ACTIONS, [self.users, self.roles], protected)
        self.deny(SCALING_ACTIONS, [self.scaling_groups], protected)
        self.deny(LOAD_BALANCER_ACTIONS, self.balancing, protected)
        # The hub's roles (every one named "Tourniquet-…", present where the hub is deployed) and the member
        # roles themselves, tagged or not.
        self.backstop_policy.add_statements(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=list(OWN_ROLE_DENIED_ACTIONS),
                resources=[self.scope.arn("iam", "role", name, region="") for name in self.scope.own_roles],
            )
        )


# How cdk-nag renders this account's Elastic Load Balancing ARNs in any region.
_ELB = "arn:<AWS::Partition>:elasticloadbalancing:*:<AWS::AccountId>"


def _acknowledge(role: iam.IRole, *, release: bool) -> None:
    scoped = (
        "Scoped to this account and the configured regions (aws:RequestedRegion), to the containment calls "
        "only, with an explicit deny on everything carrying the protected tag."
    )
    findings = {
        "Action::ec2:Describe*": "Containment re-reads instances, volumes, ENIs, groups, addresses and "
        "snapshots to plan and verify each step; Describe* grants reads only.",
        "Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:*": "Containment acts on whichever instance "
        "an alert names (and its volumes, ENIs, addresses and VPC), known only at run time. Tags are "
        f"limited to containment's own keys. {scoped}",
        "Resource::arn:<AWS::Partition>:ec2:*::snapshot/*": "Evidence snapshots are new resources whose ids "
        "exist only once created; snapshot ARNs carry no account, and only CreateSnapshot(s) and tagging "
        "under containment's own keys apply to them, in the configured regions.",
        "Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:security-group/*": "Rule changes are allowed "
        "only on groups tagged tourniquet:managed=true (a condition on the statement), which containment "
        "creates itself; their ids are known only at run time.",
        "Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:security-group-rule/*": "Rules carry no "
        "tags; which group's rules may change is decided by the tourniquet:managed=true condition on the "
        "security-group statement.",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*": "The user behind a leaked access key "
        "is known only from the finding: the deny-all policy attached (only the member stack's own, by "
        "iam:PolicyARN), the session revocation inline policy, key deactivation and console login. "
        f"{scoped}",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*": "The role of a compromised instance "
        "or session is known only from the finding (session revocation is an inline deny policy, the "
        "deny-all the member stack's own policy, attached), and release hands an instance its own role "
        "back (iam:PassRole only to EC2). Tourniquet's own roles "
        f"(the hub's Tourniquet-*, the member roles) are denied by name as well. {scoped}",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*": "Containment reads the "
        "instance profile of whichever instance an alert names (iam:GetInstanceProfile only).",
        "Resource::arn:<AWS::Partition>:autoscaling:*:<AWS::AccountId>:autoScalingGroup:*": "The instance's "
        "Auto Scaling group is known only at run time; detaching keeps the group from replacing (and "
        f"destroying) the evidence. {scoped}",
        f"Resource::{_ELB}:targetgroup/*": "The target groups serving the instance are known only at run "
        f"time; deregistering takes it out of traffic. {scoped}",
        f"Resource::{_ELB}:loadbalancer/*": "The classic load balancers serving the instance are known only "
        f"at run time; deregistering takes it out of traffic. {scoped}",
    }
    for kind in MARKED_RESOURCES:
        findings[f"Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:{kind}/*"] = (
            f"The mark (tourniquet:incident, tourniquet:status) goes on the {kind} of whichever instance an "
            f"alert names, known only at run time: those two tag keys only, named in the request. {scoped}"
        )
    findings["Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:vpc/*"] = (
        "The quarantine security groups are created in the VPC of whichever instance an alert names, known "
        "only at run time; a group is created only tagged tourniquet:managed=true (aws:RequestTag), and "
        "nothing else is done to a VPC."
    )
    if release:
        # Release changes no security-group rules, creates no group and no snapshot: nothing to explain.
        findings = {
            finding: reason
            for finding, reason in findings.items()
            if not any(kind in finding for kind in (":security-group", "::snapshot/", ":vpc/"))
        }
        findings["Resource::arn:<AWS::Partition>:kms:*:<AWS::AccountId>:key/*"] = (
            "Starting an instance whose EBS volumes are encrypted with a customer-managed key has EC2 "
            "create a grant on that key as the caller; which key encrypts the volumes is known only at run "
            "time. kms:CreateGrant only, only through EC2 in the configured regions (kms:ViaService), and "
            "only for grants an AWS service creates for its own resource (kms:GrantIsForAWSResource)."
        )
    for finding, reason in findings.items():
        acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "The EC2, Auto Scaling and Elastic Load Balancing Describe calls (read-only) support only "
        "Resource '*'.",
    )
