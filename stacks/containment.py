"""The containment and release roles: exactly the calls the containment actions make, or the calls their
release makes, each scoped as far as IAM allows, with explicit denies on the protected tag and on the stack's
own roles.

The containment calls are those the runtime package plans (``tourniquet.containment``): ``tests/infra`` reads
them from its source and fails when this module grants one too few or one too many. The release calls are
recorded while every action is released against moto (``tests/handlers/test_release.py``), which fails on a
call outside ``RELEASE_ACTIONS`` or a grant no release uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from stacks.nag import acknowledge

# Containment changes security-group rules only on the groups it created, which it tags at creation.
MANAGED_TAG = "tourniquet:managed"
# Every tag containment writes or removes (on instances, snapshots and its own groups) has one of these keys.
TAG_KEYS = ("tourniquet:*", "Name")
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
SCALING_ACTIONS = ("autoscaling:DetachInstances", "autoscaling:AttachInstances")
LOAD_BALANCER_ACTIONS = (
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
    "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
)
# The principal behind a leaked key or a compromised role: deny policies, key deactivation, console login.
USER_ACTIONS = ("iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:UpdateAccessKey", "iam:DeleteLoginProfile")
ROLE_POLICY_ACTIONS = ("iam:PutRolePolicy", "iam:DeleteRolePolicy")
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
    "iam:GetLoginProfile",
    "iam:ListAccessKeys",
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:GetRolePolicy",
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
# is protected. The stack's own roles are never passed, nor changed.
PROTECTED_IAM_ACTIONS = (*USER_ACTIONS, *ROLE_CHANGING_ACTIONS)
OWN_ROLE_DENIED_ACTIONS = (*ROLE_CHANGING_ACTIONS, "iam:PassRole")


def grant_containment(stack: Stack, fn: lambda_.Function, protected_tag_key: str) -> None:
    """Give ``fn`` the containment calls, scoped to this account and region, and the denies on the protected
    tag and on the stack's own roles."""
    _grant(stack, fn, protected_tag_key, release=False)


def grant_release(stack: Stack, fn: lambda_.Function, protected_tag_key: str) -> None:
    """Give ``fn`` the release calls only, under the same scoping and the same denies as containment."""
    _grant(stack, fn, protected_tag_key, release=True)


def _grant(stack: Stack, fn: lambda_.Function, protected_tag_key: str, *, release: bool) -> None:
    granted = set(RELEASE_ACTIONS if release else CONTAINMENT_ACTIONS) | _READS
    role = fn.role
    if role is None:
        raise ValueError(f"{fn.node.path} has no role")

    def arn(
        service: str,
        resource: str,
        name: str | None = None,
        *,
        account: str | None = None,
        region: str | None = None,
    ) -> str:
        return stack.format_arn(
            service=service, resource=resource, resource_name=name, account=account, region=region
        )

    account_ec2 = arn("ec2", "*")
    # New snapshots, whose ARNs carry no account.
    snapshots = arn("ec2", "snapshot", "*", account="")
    users = arn("iam", "user", "*", region="")
    roles = arn("iam", "role", "*", region="")
    scaling_groups = stack.format_arn(
        service="autoscaling",
        resource="autoScalingGroup",
        resource_name="*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    target_groups = arn("elasticloadbalancing", "targetgroup", "*")
    classic_balancers = arn("elasticloadbalancing", "loadbalancer", "*")
    quarantine_role = arn("iam", "role", f"{QUARANTINE_PATH.strip('/')}/{QUARANTINE_NAME}", region="")
    quarantine_profile = arn(
        "iam", "instance-profile", f"{QUARANTINE_PATH.strip('/')}/{QUARANTINE_NAME}", region=""
    )

    def allow(
        actions: Iterable[str], resources: list[str], conditions: dict[str, object] | None = None
    ) -> None:
        chosen = [action for action in actions if action in granted]
        if chosen:
            fn.add_to_role_policy(
                iam.PolicyStatement(actions=chosen, resources=resources, conditions=conditions)
            )

    def deny(actions: Iterable[str], resources: list[str]) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=list(actions),
                resources=resources,
                conditions={"Null": {f"aws:ResourceTag/{protected_tag_key}": "false"}},
            )
        )

    # Resource "*": these Describe calls have no resource-level permissions.
    allow(READ_ACTIONS, ["*"])
    allow(IAM_READ_ACTIONS, [users, roles, arn("iam", "instance-profile", "*", region="")])

    # Release never touches the evidence snapshots.
    ec2_resources = [account_ec2] if release else [account_ec2, snapshots]
    allow(EC2_ACTIONS, ec2_resources)
    # Tags only under containment's own keys: it can never write the protected tag or retag anything else.
    allow(TAG_ACTIONS, ec2_resources, {"ForAllValues:StringLike": {"aws:TagKeys": list(TAG_KEYS)}})
    # Opening or closing rules only on the groups containment created: a role that may open all traffic must
    # not be able to do so on a production group. The rules themselves carry no tags; the group decides.
    allow(
        SECURITY_GROUP_RULE_ACTIONS,
        [arn("ec2", "security-group", "*")],
        {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}},
    )
    allow(SECURITY_GROUP_RULE_ACTIONS, [arn("ec2", "security-group-rule", "*")])
    allow(SCALING_ACTIONS, [scaling_groups])
    allow(LOAD_BALANCER_ACTIONS, [target_groups, classic_balancers])
    # Only grants EC2 creates for its own use (the volumes of the instance it starts), on this account's keys.
    allow(
        KEY_GRANT_ACTIONS,
        [arn("kms", "key", "*")],
        {
            "Bool": {"kms:GrantIsForAWSResource": "true"},
            "StringEquals": {"kms:ViaService": f"ec2.{stack.region}.amazonaws.com"},
        },
    )

    allow(USER_ACTIONS, [users])
    allow(ROLE_POLICY_ACTIONS, [roles])
    allow(QUARANTINE_ROLE_ACTIONS, [quarantine_role])
    allow(QUARANTINE_PROFILE_ACTIONS, [quarantine_profile])
    # Adding the quarantine role to its profile passes it; swapping profiles passes a role to EC2, and release
    # hands an instance its own role back, which may be any role of the account.
    if not release:
        allow(["iam:PassRole"], [quarantine_role])
    allow(["iam:PassRole"], [roles], {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})

    # Backstops behind the handler's own checks: whatever carries the protected tag is never touched.
    deny(PROTECTED_EC2_ACTIONS, [arn("ec2", kind, "*") for kind in PROTECTED_EC2_RESOURCES])
    deny(PROTECTED_IAM_ACTIONS, [users, roles])
    deny(SCALING_ACTIONS, [scaling_groups])
    deny(LOAD_BALANCER_ACTIONS, [target_groups, classic_balancers])
    _deny_own_roles(stack, fn)

    _acknowledge(role, release=release)


def _deny_own_roles(stack: Stack, fn: lambda_.Function) -> None:
    """Containment may never change or pass the stack's own roles, tagged or not.

    CloudFormation names every role of the stack ``<stack name>-<logical id>-<suffix>`` (none sets a name
    or a path), so one pattern covers them all, including any added later.
    """
    fn.add_to_role_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=list(OWN_ROLE_DENIED_ACTIONS),
            resources=[
                stack.format_arn(
                    service="iam", region="", resource="role", resource_name=f"{stack.stack_name}-*"
                )
            ],
        )
    )


# How cdk-nag renders the account's and region's Elastic Load Balancing ARNs.
_ELB = "arn:<AWS::Partition>:elasticloadbalancing:<AWS::Region>:<AWS::AccountId>"


def _acknowledge(role: iam.IRole, *, release: bool) -> None:
    scoped = (
        "Scoped to this account (and region), to the containment calls only, with an explicit deny on "
        "everything carrying the protected tag."
    )
    findings = {
        "Action::ec2:Describe*": "Containment re-reads instances, volumes, ENIs, groups, addresses and "
        "snapshots to plan and verify each step; Describe* grants reads only.",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:*": "Containment acts on "
        "whichever instance an alert names (and its volumes, ENIs, addresses and VPC), known only at run "
        f"time. Tags are limited to containment's own keys. {scoped}",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*": "Evidence snapshots are new "
        "resources whose ids exist only once created; snapshot ARNs carry no account, and only "
        "CreateSnapshot(s) and tagging under containment's own keys apply to them.",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*": "Rule "
        "changes are allowed only on groups tagged tourniquet:managed=true (a condition on the statement), "
        "which containment creates itself; their ids are known only at run time.",
        "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group-rule/*": "Rules "
        "carry no tags; which group's rules may change is decided by the tourniquet:managed=true condition "
        "on the security-group statement.",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*": "The user behind a leaked access key "
        f"is known only from the finding: deny policies, key deactivation and console login. {scoped}",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*": "The role of a compromised instance "
        "or session is known only from the finding (session revocation is an inline deny policy), and "
        "release hands an instance its own role back (iam:PassRole only to EC2). The stack's own roles "
        f"(Tourniquet-*) are denied by name as well. {scoped}",
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*": "Containment reads the "
        "instance profile of whichever instance an alert names (iam:GetInstanceProfile only).",
        "Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*": "The "
        "instance's Auto Scaling group is known only at run time; detaching keeps the group from replacing "
        f"(and destroying) the evidence. {scoped}",
        f"Resource::{_ELB}:targetgroup/*": "The target groups serving the instance are known only at run "
        f"time; deregistering takes it out of traffic. {scoped}",
        f"Resource::{_ELB}:loadbalancer/*": "The classic load balancers serving the instance are known only "
        f"at run time; deregistering takes it out of traffic. {scoped}",
    }
    if release:
        # Release changes no security-group rules and no snapshots: there are no such grants to explain.
        findings = {
            finding: reason
            for finding, reason in findings.items()
            if not any(kind in finding for kind in (":security-group", "::snapshot/"))
        }
        findings["Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"] = (
            "Starting an instance whose EBS volumes are encrypted with a customer-managed key has EC2 "
            "create a grant on that key as the caller; which key encrypts the volumes is known only at run "
            "time. kms:CreateGrant only, only through EC2 in this region (kms:ViaService), and only for "
            "grants an AWS service creates for its own resource (kms:GrantIsForAWSResource)."
        )
    for finding, reason in findings.items():
        acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)
