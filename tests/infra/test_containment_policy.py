"""The member stack's containment role grants exactly the calls the containment code makes, scoped, with its
denies; the release role only the calls release makes.

The calls are read from the runtime package's source: every ``Call(service=…, operation=…)`` it plans and
every read it makes. A containment change that needs a new permission (or drops one) fails here first.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from stacks.containment import (
    CONTAINMENT_ACTIONS,
    DENY_ALL_POLICY_NAME,
    DENY_ALL_POLICY_PATH,
    DENY_ALL_QUARANTINE_ACTIONS,
    DENY_ALL_USER_ACTIONS,
    EVIDENCE_TAG_KEYS,
    GROUP_TAG_KEYS,
    IAM_READ_ACTIONS,
    MANAGED_TAG,
    MARK_TAG_KEYS,
    OWN_ROLE_DENIED_ACTIONS,
    PROTECTED_EC2_ACTIONS,
    PROTECTED_IAM_ACTIONS,
    QUARANTINE_NAME,
    QUARANTINE_PATH,
    READ_ACTIONS,
    RELEASE_ACTIONS,
    SECURITY_GROUP_RULE_ACTIONS,
)
from stacks.names import OWN_TAG_KEYS, STACK_NAME, Purpose
from stacks.storage import TABLE_KEY_ACTIONS
from tests.infra.calls import missing_reads, planned_calls, reads, unused_grants
from tests.infra.cfn import (
    Template,
    actions,
    allowed_actions,
    as_list,
    granting,
    member_role_statements,
    one,
    resources,
)
from tourniquet.containment import ec2 as containment_ec2
from tourniquet.containment import iam as containment_iam
from tourniquet.containment.actions import Context, SnapshotVolumes
from tourniquet.containment.model import Call
from tourniquet.state import Scope

# Permissions a call needs besides its own: CreateRole with tags needs TagRole; adding a role to an instance
# profile, and associating a profile with an instance, pass the role.
IMPLIED = {"iam:TagRole", "iam:PassRole"}
READ_VERBS = ("Describe", "Get", "List")
# What the role does besides containing: its logs and traces, the incident record and the table's key.
OTHER_DUTIES = ("logs:", "xray:", "dynamodb:")
TABLE_KEY = frozenset(TABLE_KEY_ACTIONS)


def is_write(action: str) -> bool:
    """A containment or release write: not a read, and not one of the role's other duties."""
    return (
        not action.partition(":")[2].startswith(READ_VERBS)
        and not action.startswith(OTHER_DUTIES)
        and action not in TABLE_KEY
    )


def beyond_region(condition: dict[str, Any]) -> dict[str, Any]:
    """A statement's condition without the region bound (tested on its own)."""
    rest = {op: dict(keys) for op, keys in condition.items()}
    rest.get("StringEquals", {}).pop("aws:RequestedRegion", None)
    return {op: keys for op, keys in rest.items() if keys}


def contain_statements(member_template: Template) -> list[dict[str, Any]]:
    return member_role_statements(member_template, "contain")


def test_the_scan_finds_the_containment_calls() -> None:
    calls = planned_calls("containment")
    # Guards the scan itself: these are the first calls containment ever made.
    assert {"ec2:CreateTags", "ec2:StopInstances", "ec2:ModifyNetworkInterfaceAttribute"} <= calls
    assert {"describe_instances", "describe_security_groups"} <= set(reads("containment"))


def test_the_role_grants_every_planned_call_and_nothing_else(member_template: Template) -> None:
    assert planned_calls("containment") | IMPLIED == set(CONTAINMENT_ACTIONS)
    granted = allowed_actions(contain_statements(member_template))
    writes = {action for action in granted if is_write(action)}
    assert writes == set(CONTAINMENT_ACTIONS)


def test_the_runtime_denies_all_by_attaching_the_member_stacks_policy() -> None:
    assert containment_iam.DENY_ALL_POLICY_NAME == DENY_ALL_POLICY_NAME
    assert containment_iam.DENY_ALL_POLICY_PATH == DENY_ALL_POLICY_PATH
    assert planned_calls("containment") >= {*DENY_ALL_USER_ACTIONS, *DENY_ALL_QUARANTINE_ACTIONS}


@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_the_deny_all_is_the_only_policy_a_member_role_may_attach_or_detach(
    member_template: Template, purpose: Purpose
) -> None:
    policy_id, policy = one(member_template, "AWS::IAM::ManagedPolicy", "DenyAll")
    assert policy["Properties"]["ManagedPolicyName"] == DENY_ALL_POLICY_NAME == "TourniquetDenyAll"
    assert policy["Properties"]["Path"] == DENY_ALL_POLICY_PATH == "/tourniquet/"
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Effect": "Deny", "Action": "*", "Resource": "*"}
    ]
    statements = member_role_statements(member_template, purpose)
    # Containment attaches it to users and to the quarantine role; release only detaches it from users.
    where = (
        {"iam:DetachUserPolicy": ":user/*"}
        if purpose == "release"
        else {
            "iam:AttachUserPolicy": ":user/*",
            "iam:DetachUserPolicy": ":user/*",
            "iam:AttachRolePolicy": f":role{QUARANTINE_PATH}{QUARANTINE_NAME}",
        }
    )
    attaching = ("Attach", "Detach")
    granted = {a for a in allowed_actions(statements) if a.removeprefix("iam:").startswith(attaching)}
    assert granted == set(where)
    for action, resource in where.items():
        (statement,) = granting(statements, action)
        assert statement["Condition"] == {"ArnEquals": {"iam:PolicyARN": {"Ref": policy_id}}}
        (only_resource,) = as_list(statement["Resource"])
        assert json.dumps(only_resource).endswith(f'{resource}"]]}}'), only_resource


def test_the_role_grants_every_read(member_template: Template) -> None:
    granted = allowed_actions(contain_statements(member_template))
    assert missing_reads("containment", granted) == set()
    reads_granted = {
        a
        for a in granted
        if a.partition(":")[2].startswith(READ_VERBS) and not a.startswith((*OTHER_DUTIES, "kms:"))
    }
    assert reads_granted == set(READ_ACTIONS) | set(IAM_READ_ACTIONS)
    assert unused_grants("containment", reads_granted) == set()


def test_names_shared_with_the_runtime_package() -> None:
    assert MANAGED_TAG == containment_ec2.TAG_MANAGED
    assert (QUARANTINE_PATH, QUARANTINE_NAME) == (
        containment_iam.QUARANTINE_PATH,
        containment_iam.QUARANTINE_NAME,
    )
    written = {
        value
        for name, value in vars(containment_ec2).items()
        if name.startswith("TAG_") and isinstance(value, str)
    }
    # Every tag key the runtime names, and the Name of its groups; a new one must be placed in stacks.names.
    assert written | {"Name"} == OWN_TAG_KEYS


@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_tags_only_under_containments_own_keys_where_it_writes_them(
    member_template: Template, purpose: Purpose
) -> None:
    found: dict[str, dict[str, set[str]]] = {}
    for action in ("ec2:CreateTags", "ec2:DeleteTags"):
        for statement in granting(member_role_statements(member_template, purpose), action):
            if statement["Condition"].get("StringEquals", {}).get("aws:PrincipalTag/tourniquet:action"):
                continue  # lifting a protection, checked on its own below
            for resource in as_list(statement["Resource"]):
                kind = json.dumps(resource).rsplit(":", 1)[1].split("/")[0]
                found.setdefault(action, {})[kind] = set(tag_keys_allowed(statement))
    mark = {kind: set(MARK_TAG_KEYS) for kind in ("instance", "volume", "network-interface")}
    if purpose == "release":
        # Release puts the mark's before-state back, nothing else.
        assert found == {"ec2:CreateTags": mark, "ec2:DeleteTags": mark}
    else:
        assert found == {
            "ec2:CreateTags": {
                **mark,
                "snapshot": set(EVIDENCE_TAG_KEYS),
                "security-group": set(GROUP_TAG_KEYS),
            },
            "ec2:DeleteTags": mark,
        }


def tag_keys_allowed(statement: dict[str, Any]) -> list[str]:
    """The tag keys (patterns) an Allow statement lets a tagging call name."""
    condition = statement.get("Condition", {})
    for operator in ("ForAllValues:StringEquals", "ForAllValues:StringLike"):
        if "aws:TagKeys" in condition.get(operator, {}):
            return list(condition[operator]["aws:TagKeys"])
    raise AssertionError(f"tagging without a tag-key condition: {statement}")


@pytest.mark.parametrize(
    ("fixture", "tag_key"),
    [("member_template", "tourniquet:protected"), ("variant_member_template", "team:do-not-touch")],
)
@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_the_protected_tag_is_never_written_and_removed_only_by_lifting_a_protection(
    request: pytest.FixtureRequest, fixture: str, tag_key: str, purpose: Purpose
) -> None:
    # Whoever holds a member role must not be able to protect a resource from containment, nor unprotect
    # one outside a lift_protection session (which the hub opens only for an approved lift).
    statements = member_role_statements(request.getfixturevalue(fixture), purpose)
    lifting = {"aws:PrincipalTag/tourniquet:action": "lift_protection"}
    for action in ("ec2:CreateTags", "ec2:DeleteTags"):
        for statement in granting(statements, action):
            if not any(fnmatch.fnmatchcase(tag_key, pattern) for pattern in tag_keys_allowed(statement)):
                continue
            assert (purpose, actions(statement)) == ("contain", {"ec2:DeleteTags"}), statement
            assert tag_keys_allowed(statement) == [tag_key]
            assert beyond_region(statement["Condition"])["StringEquals"] == lifting
            (resource,) = as_list(statement["Resource"])
            assert json.dumps(resource).endswith(':instance/*"]]}')
    # And explicit denies say so, whatever an allow may grant one day: writing always, removing outside a
    # lift_protection session (a session without the tag is denied too).
    backstops = {
        frozenset(actions(st)): st["Condition"]
        for st in statements
        if st["Effect"] == "Deny" and "ForAnyValue:StringEquals" in st.get("Condition", {})
    }
    protected_key = {"ForAnyValue:StringEquals": {"aws:TagKeys": [tag_key]}}
    assert backstops == {
        frozenset({"ec2:CreateTags"}): protected_key,
        frozenset({"ec2:DeleteTags"}): {**protected_key, "StringNotEquals": lifting},
    }


@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_every_tagging_call_names_its_keys(member_template: Template, purpose: Purpose) -> None:
    # DeleteTags without keys deletes every tag, and ForAllValues holds for an empty set: require keys.
    for action in ("ec2:CreateTags", "ec2:DeleteTags"):
        for statement in granting(member_role_statements(member_template, purpose), action):
            assert statement["Condition"]["Null"] == {"aws:TagKeys": "false"}, statement
            assert "ForAllValues:StringEquals" in statement["Condition"], statement


def allows_key(statement: dict[str, Any], key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in tag_keys_allowed(statement))


def test_the_managed_tag_is_written_only_on_a_group_containment_creates(member_template: Template) -> None:
    # Rule changes are allowed on groups tagged tourniquet:managed=true: tagging an existing group so would
    # let the role open a production group to all traffic.
    contain = contain_statements(member_template)
    managing = [st for st in granting(contain, "ec2:CreateTags") if allows_key(st, MANAGED_TAG)]
    assert managing
    for statement in managing:
        assert statement["Condition"]["StringEquals"]["ec2:CreateAction"] == "CreateSecurityGroup"
        assert json.dumps(statement["Resource"]).endswith(':security-group/*"]]}')
    assert not any(allows_key(st, MANAGED_TAG) for st in granting(contain, "ec2:DeleteTags"))
    release = release_statements(member_template)
    assert not any(
        allows_key(st, MANAGED_TAG)
        for action in ("ec2:CreateTags", "ec2:DeleteTags")
        for st in granting(release, action)
    )


def test_rules_change_only_on_the_groups_containment_created(member_template: Template) -> None:
    statements = contain_statements(member_template)
    rule_statements = [
        st for st in statements if st["Effect"] == "Allow" and actions(st) & set(SECURITY_GROUP_RULE_ACTIONS)
    ]
    on_groups = [st for st in rule_statements if "security-group/*" in json.dumps(st["Resource"])]
    on_rules = [st for st in rule_statements if "security-group-rule/*" in json.dumps(st["Resource"])]
    assert len(on_groups) == 1 and len(on_rules) == 1 and len(rule_statements) == 2
    assert beyond_region(on_groups[0]["Condition"]) == {
        "StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "true"}
    }
    assert actions(on_groups[0]) == actions(on_rules[0]) == set(SECURITY_GROUP_RULE_ACTIONS)


def test_roles_are_passed_only_to_ec2_apart_from_the_quarantine_role(member_template: Template) -> None:
    passes = granting(contain_statements(member_template), "iam:PassRole")
    (anywhere,) = [st for st in passes if "Condition" in st]
    assert actions(anywhere) == {"iam:PassRole"}
    assert anywhere["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    (quarantine,) = [st for st in passes if "Condition" not in st]
    assert json.dumps(quarantine["Resource"]).endswith(f':role{QUARANTINE_PATH}{QUARANTINE_NAME}"]]}}')


def test_the_quarantine_role_and_profile_are_the_only_iam_creations(member_template: Template) -> None:
    statements = contain_statements(member_template)
    for action, kind in (
        ("iam:CreateRole", "role"),
        ("iam:TagRole", "role"),
        ("iam:CreateInstanceProfile", "instance-profile"),
        ("iam:AddRoleToInstanceProfile", "instance-profile"),
    ):
        (statement,) = granting(statements, action)
        assert json.dumps(statement["Resource"]).endswith(f':{kind}{QUARANTINE_PATH}{QUARANTINE_NAME}"]]}}')


@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_every_write_is_scoped_to_this_account(member_template: Template, purpose: Purpose) -> None:
    for statement in member_role_statements(member_template, purpose):
        if statement["Effect"] != "Allow" or not actions(statement) & set(CONTAINMENT_ACTIONS):
            continue
        for resource in as_list(statement["Resource"]):
            rendered = json.dumps(resource)
            assert resource != "*"
            # Snapshot ARNs carry no account; everything else names this one.
            assert "AWS::AccountId" in rendered or ":snapshot/*" in rendered, rendered


# IAM is global; the calls below are made in the region the target is in, and only there.
GLOBAL_SERVICES = ("iam:", "kms:")


@pytest.mark.parametrize("purpose", ["contain", "release"])
def test_every_regional_write_is_bound_to_the_configured_regions(
    member_template: Template, purpose: Purpose
) -> None:
    # The member role is global (IAM): only the condition keeps its regional writes in the regions in scope.
    # The default config acts in the region the stacks are deployed to.
    for statement in member_role_statements(member_template, purpose):
        writes = {a for a in actions(statement) if is_write(a) and not a.startswith(GLOBAL_SERVICES)}
        if statement["Effect"] != "Allow" or not writes:
            continue
        assert statement["Condition"]["StringEquals"]["aws:RequestedRegion"] == [{"Ref": "AWS::Region"}]


@pytest.mark.parametrize(
    ("fixture", "tag_key"),
    [("member_template", "tourniquet:protected"), ("variant_member_template", "team:do-not-touch")],
)
def test_nothing_carrying_the_protected_tag_is_touched(
    request: pytest.FixtureRequest, fixture: str, tag_key: str
) -> None:
    member_template: Template = request.getfixturevalue(fixture)
    denies = [
        st
        for st in contain_statements(member_template)
        if st["Effect"] == "Deny" and "Null" in st.get("Condition", {})
    ]
    protected = {"Null": {f"aws:ResourceTag/{tag_key}": "false"}}
    not_lifting = {"StringNotEquals": {"aws:PrincipalTag/tourniquet:action": "lift_protection"}}
    for statement in denies:
        expected = {**protected, **not_lifting} if actions(statement) == {"ec2:DeleteTags"} else protected
        assert statement["Condition"] == expected
    by_actions = {frozenset(actions(st)): json.dumps(st["Resource"]) for st in denies}
    for ec2 in (
        by_actions[frozenset(a for a in PROTECTED_EC2_ACTIONS if a != "ec2:DeleteTags")],
        by_actions[frozenset({"ec2:DeleteTags"})],
    ):
        for kind in ("instance/*", "volume/*", "network-interface/*", "security-group/*", "elastic-ip/*"):
            assert kind in ec2
    iam = by_actions[frozenset(PROTECTED_IAM_ACTIONS)]
    assert ":user/*" in iam and ":role/*" in iam
    assert (
        "autoScalingGroup"
        in by_actions[frozenset({"autoscaling:DetachInstances", "autoscaling:AttachInstances"})]
    )
    # Every write that changes an existing resource is denied on protected ones. Not denied: creating the
    # empty quarantine group, role and profile (no protected resource is involved), and passing a role,
    # which changes nothing about it (release gives an instance its own role back, protected or not).
    denied = set().union(*(actions(st) for st in denies))
    assert set(CONTAINMENT_ACTIONS) - denied == {
        "ec2:CreateSecurityGroup",
        "iam:CreateRole",
        "iam:CreateInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:PassRole",
    }


def test_tourniquets_own_roles_are_never_changed_or_passed(
    template: Template, member_template: Template
) -> None:
    (own,) = [
        st for st in contain_statements(member_template) if st["Effect"] == "Deny" and "Condition" not in st
    ]
    assert actions(own) == set(OWN_ROLE_DENIED_ACTIONS)
    denied = {
        json.dumps(resource).rsplit(":role/", 1)[1].removesuffix('"]]}') for resource in own["Resource"]
    }
    assert denied == {f"{STACK_NAME}-*", "TourniquetDiagnose", "TourniquetContain", "TourniquetRelease"}
    assert {"iam:PutRolePolicy", "iam:PassRole", "iam:UpdateAssumeRolePolicy"} <= set(OWN_ROLE_DENIED_ACTIONS)
    # The hub's roles: CloudFormation names each "<stack>-<logical id>-<suffix>" at the root path, and the
    # three that member roles trust are named "<stack>-<function>": the pattern holds for all of them.
    for role_id, role in resources(template, "AWS::IAM::Role").items():
        assert "Path" not in role["Properties"], role_id
        assert role["Properties"].get("RoleName", f"{STACK_NAME}-").startswith(f"{STACK_NAME}-"), role_id
    # The member roles are named by the config, at the root path (the runtime builds their ARNs so).
    for role_id, role in resources(member_template, "AWS::IAM::Role").items():
        assert "Path" not in role["Properties"], role_id
        assert role["Properties"]["RoleName"] in denied, role_id


def release_statements(member_template: Template) -> list[dict[str, Any]]:
    return member_role_statements(member_template, "release")


def test_release_may_make_only_the_release_calls(member_template: Template) -> None:
    granted = allowed_actions(release_statements(member_template))
    writes = {action for action in granted if is_write(action)}
    assert writes == set(RELEASE_ACTIONS)
    # Nothing that contains: no stopping, detaching, snapshots, policies written or quarantine created.
    assert not writes & {
        "ec2:StopInstances",
        "autoscaling:DetachInstances",
        "iam:PutUserPolicy",
        "iam:CreateRole",
    }
    assert missing_reads("containment", granted) == set()


def denies(statements: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(st, sort_keys=True) for st in statements if st["Effect"] == "Deny")


def test_release_runs_under_the_same_scoping_and_denies_as_containment(member_template: Template) -> None:
    release = release_statements(member_template)
    assert denies(release) == denies(contain_statements(member_template))
    resources = json.dumps([st["Resource"] for st in release if st["Effect"] == "Allow"])
    # Release never touches evidence snapshots or the quarantine role and profile.
    assert "snapshot/" not in resources
    assert QUARANTINE_NAME not in resources
    (passing,) = granting(release, "iam:PassRole")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_release_lets_ec2_use_the_accounts_keys_only_to_start_instances(member_template: Template) -> None:
    # Starting an instance whose volumes are encrypted with a customer-managed key has EC2 create a KMS grant
    # as the caller (tests/handlers/test_release.py counts it). Only for EC2 in the configured regions, and
    # only a grant an AWS service creates for its own resource, on the keys of this account.
    (grant,) = granting(release_statements(member_template), "kms:CreateGrant")
    assert actions(grant) == {"kms:CreateGrant"}
    assert grant["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":kms:*:", {"Ref": "AWS::AccountId"}, ":key/*"]]
    }
    assert grant["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"},
        "StringEquals": {
            "kms:ViaService": [{"Fn::Join": ["", ["ec2.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}]
        },
    }


def test_containment_creates_no_key_grants(member_template: Template) -> None:
    # Snapshots of an encrypted volume reuse the volume's data key, and stopping needs no key: containment
    # never has EC2 create a grant.
    assert not granting(contain_statements(member_template), "kms:CreateGrant")


# --- what containment creates: only Tourniquet's own, tagged as such at creation ---------------------------


def request_tags(call: Call) -> dict[str, str]:
    """The tags a creating call sets (Tags, or the TagSpecifications of its one resource type)."""
    params = call["params"]
    tags = params.get("Tags") or [tag for spec in params.get("TagSpecifications", []) for tag in spec["Tags"]]
    return {tag["Key"]: tag["Value"] for tag in tags}


def satisfies(statement: dict[str, Any], tags: dict[str, str]) -> bool:
    """Whether a call setting ``tags`` meets the statement's request-tag conditions."""
    condition = statement.get("Condition", {})
    required = {
        key.removeprefix("aws:RequestTag/"): value
        for key, value in condition.get("StringEquals", {}).items()
        if key.startswith("aws:RequestTag/")
    }
    keys = condition.get("ForAllValues:StringEquals", {}).get("aws:TagKeys")
    return all(tags.get(k) == v for k, v in required.items()) and (keys is None or set(tags) <= set(keys))


def creating(member_template: Template, action: str, resource: str) -> dict[str, Any]:
    """The one statement that lets the Contain role ``action`` on ``resource`` (an ARN's end)."""
    (statement,) = [
        st
        for st in granting(contain_statements(member_template), action)
        if any(json.dumps(r).endswith(f':{resource}"]]}}') for r in as_list(st["Resource"]))
    ]
    return statement


def test_the_quarantine_role_is_created_only_tagged_as_tourniquets(member_template: Template) -> None:
    statement = creating(member_template, "iam:CreateRole", f"role{QUARANTINE_PATH}{QUARANTINE_NAME}")
    assert actions(statement) == {"iam:CreateRole", "iam:TagRole"}
    assert statement["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [MANAGED_TAG]},
    }
    state = {
        "policy_arn": "arn:aws:iam::123456789012:policy/tourniquet/TourniquetDenyAll",
        "role_exists": False,
        "managed": False,
        "roles": [],
        "profile_arn": None,
        "denies_all": False,
    }
    (create,) = [c for c in containment_iam.quarantine_calls(state) if c["operation"] == "CreateRole"]
    assert satisfies(statement, request_tags(create))


def test_security_groups_are_created_only_tagged_as_tourniquets(member_template: Template) -> None:
    group = creating(member_template, "ec2:CreateSecurityGroup", "security-group/*")
    assert beyond_region(group["Condition"]) == {"StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"}}
    # The group is created in the instance's VPC, whichever it is.
    vpc = creating(member_template, "ec2:CreateSecurityGroup", "vpc/*")
    assert beyond_region(vpc["Condition"]) == {}
    for role in ("untracking", "quarantine"):
        (create, *_) = containment_ec2.group_calls(role, "vpc-0123", None)
        assert create["operation"] == "CreateSecurityGroup"
        assert satisfies(group, request_tags(create))


def test_snapshots_are_created_only_as_evidence(member_template: Template) -> None:
    snapshot = creating(member_template, "ec2:CreateSnapshots", "snapshot/*")
    assert actions(snapshot) == {"ec2:CreateSnapshot", "ec2:CreateSnapshots"}
    assert beyond_region(snapshot["Condition"]) == {
        "StringEquals": {"aws:RequestTag/tourniquet:evidence": "true"}
    }
    # Of the instance's volumes, whichever they are.
    source = creating(member_template, "ec2:CreateSnapshots", "volume/*")
    assert "instance/*" in json.dumps(source["Resource"])
    context = Context(
        incident_id="inc-1",
        target_id="i-0123",
        record_step=lambda _: None,
        scope=Scope(account="123456789012", region="eu-west-1"),
    )
    volumes = [{"volume_id": "vol-1", "device": "/dev/xvda"}, {"volume_id": "vol-2", "device": "/dev/xvdb"}]
    every = SnapshotVolumes().plan(context, {"volumes": volumes, "snapshots": []})
    one_more = SnapshotVolumes().plan(
        context,
        {
            "volumes": volumes,
            "snapshots": [{"snapshot_id": "snap-1", "volume_id": "vol-1", "state": "completed", "tags": {}}],
        },
    )
    created = [c for c in (*every, *one_more) if c["operation"] in ("CreateSnapshots", "CreateSnapshot")]
    assert {c["operation"] for c in created} == {"CreateSnapshots", "CreateSnapshot"}
    for call in created:
        assert satisfies(snapshot, request_tags(call)), call
