"""Names that more than one stack (or the runtime) must agree on, with no CDK import.

The hub's Diagnose, Contain and Release function roles have fixed names, so that a member stack deployed in
another account (by StackSets) can trust exactly them. The member stack owns the deny-all policy that
containment attaches to a compromised user or role; the runtime names it by these constants.
"""

from __future__ import annotations

from typing import Literal

# The hub stack: CloudFormation names each role it does not name itself "<stack name>-<logical id>-<suffix>",
# and the roles named below share the prefix, so "<stack name>-*" covers every role of the hub.
STACK_NAME = "Tourniquet"
# The member stack (Diagnose, Contain and Release roles, the deny-all policy) in every account in scope.
MEMBER_STACK_NAME = "TourniquetMember"
# The stack that holds the StackSet deploying the member stack to organizational units.
STACKSET_STACK_NAME = "TourniquetMemberStackSet"
# The name of the StackSet itself (in the management account or a StackSets delegated administrator).
STACKSET_NAME = "TourniquetMember"
# The optional pipeline that deploys the stacks above from a repository (in the hub's account).
PIPELINE_STACK_NAME = "TourniquetPipeline"

# What a hub function does with its member role: assume it, with the incident as source identity and the
# incident and purpose as session tags.
ASSUME_ACTIONS = ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")

# The session tag naming an action that IAM allows only in a session of its own, and the one such action:
# taking the protected tag off an instance whose protection is suspicious (always after an approval).
ACTION_SESSION_TAG = "tourniquet:action"
LIFT_PROTECTION_ACTION = "lift_protection"

Purpose = Literal["diagnose", "contain", "release"]
PURPOSES: tuple[Purpose, ...] = ("diagnose", "contain", "release")

# The hub's function that acts for each purpose (its construct id in the hub stack).
HUB_FUNCTIONS: dict[Purpose, str] = {"diagnose": "Diagnose", "contain": "Contain", "release": "Release"}

# The managed policy that denies everything, attached by containment to a compromised user or role (and
# detached by release). IAM lets containment attach this one policy and no other (iam:PolicyARN).
DENY_ALL_POLICY_NAME = "TourniquetDenyAll"
DENY_ALL_POLICY_PATH = "/tourniquet/"


# The tag keys containment writes, by where (the runtime's tourniquet.containment.ec2 TAG_* constants). The
# protected tag is never among them (the config refuses it): no member role can protect anything, and only a
# lift_protection session can unprotect an instance.
MANAGED_TAG = "tourniquet:managed"
EVIDENCE_TAG = "tourniquet:evidence"
# The mark on the contained instance, its volumes and its network interfaces (removed again by release).
MARK_TAG_KEYS = ("tourniquet:incident", "tourniquet:status")
# On evidence snapshots, at creation and after.
EVIDENCE_TAG_KEYS = (
    "tourniquet:incident",
    EVIDENCE_TAG,
    "tourniquet:instance",
    "tourniquet:source-volume",
    "tourniquet:device",
)
# On the quarantine security groups containment creates, only as it creates them.
GROUP_TAG_KEYS = ("Name", "tourniquet:role", MANAGED_TAG)
OWN_TAG_KEYS = frozenset((*MARK_TAG_KEYS, *EVIDENCE_TAG_KEYS, *GROUP_TAG_KEYS))


def hub_role_name(purpose: Purpose) -> str:
    """The fixed name of the hub function role that acts for ``purpose``: ``Tourniquet-Contain``, say."""
    return f"{STACK_NAME}-{HUB_FUNCTIONS[purpose]}"


def hub_roles_pattern() -> str:
    """The names of every role of the hub stack, as an IAM resource pattern."""
    return f"{STACK_NAME}-*"


def forwarder_stack_name(region: str) -> str:
    """The stack that forwards ``region``'s findings and alarms to the hub's home region."""
    return f"{STACK_NAME}-Forwarder-{region}"


def deny_all_policy_arn(partition: str, account: str) -> str:
    """The ARN of the member stack's deny-all policy in ``account``."""
    return f"arn:{partition}:iam::{account}:policy{DENY_ALL_POLICY_PATH}{DENY_ALL_POLICY_NAME}"
