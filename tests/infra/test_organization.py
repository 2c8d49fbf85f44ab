"""The organization-wide stacks: a forwarder per region besides the home region, and the StackSet that deploys
the member stack to organizational units (read from the VARIANT synthesis, which configures both)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks import stackset
from stacks.config import load_config, project_context
from stacks.member import MemberStack
from stacks.names import (
    MEMBER_STACK_NAME,
    STACK_NAME,
    STACKSET_NAME,
    STACKSET_STACK_NAME,
    forwarder_stack_name,
)
from stacks.synth import Synthesis
from stacks.triggers import EVENT_RETRY_ATTEMPTS
from tests.infra.cfn import Template, arn_text, only, resources, role_statements
from tests.infra.configs import HUB_ACCOUNT, ORGANIZATION_ID, STACKSET_OUS, VARIANT_REGIONS

HOME, *FORWARDED = VARIANT_REGIONS
# The partition is left to CloudFormation even where the region is known (cdk.json turns partition literals
# off): each ARN, and each cdk-nag finding acknowledged by its ARN, is spelt one way with or without regions.
HOME_BUS = f"arn:${{AWS::Partition}}:events:{HOME}:${{AWS::AccountId}}:event-bus/default"
DAY_SECONDS = 24 * 3600


def rule_patterns(template: Template) -> dict[str, Any]:
    """Rule construct id (the logical id without its hash) → event pattern."""
    return {
        lid[:-8]: rule["Properties"]["EventPattern"]
        for lid, rule in resources(template, "AWS::Events::Rule").items()
    }


@pytest.fixture(scope="module")
def forwarders(variant_synthesis: Synthesis) -> dict[str, Template]:
    """Region → its forwarder's template."""
    return {region: variant_synthesis.templates[forwarder_stack_name(region)] for region in FORWARDED}


@pytest.fixture(scope="module")
def stack_set(variant_synthesis: Synthesis) -> dict[str, Any]:
    _, resource = only(variant_synthesis.templates[STACKSET_STACK_NAME], "AWS::CloudFormation::StackSet")
    properties: dict[str, Any] = resource["Properties"]
    return properties


# --- which stacks the app holds -------------------------------------------------------------------------


def test_every_region_but_the_home_region_gets_a_forwarder_deployed_after_the_hub(
    variant_synthesis: Synthesis,
) -> None:
    assert set(variant_synthesis.templates) == {
        STACK_NAME,
        MEMBER_STACK_NAME,
        STACKSET_STACK_NAME,
        *(forwarder_stack_name(region) for region in FORWARDED),
    }
    # The hub's rules must exist before anything forwards events to them, and the member roles (by cdk deploy
    # or by StackSet) trust the hub's roles, which IAM requires to exist.
    assert variant_synthesis.dependencies == {
        STACK_NAME: frozenset(),
        MEMBER_STACK_NAME: {STACK_NAME},
        STACKSET_STACK_NAME: {STACK_NAME},
        **{forwarder_stack_name(region): {STACK_NAME} for region in FORWARDED},
    }


@pytest.mark.parametrize("name", ["synthesis", "minimal_synthesis"])
def test_one_region_and_no_stackset_ous_make_just_the_hub_and_the_member_stack(
    request: pytest.FixtureRequest, name: str
) -> None:
    # cdk.json names no region; the minimal config names one, the hub's.
    synthesis: Synthesis = request.getfixturevalue(name)
    assert set(synthesis.templates) == {STACK_NAME, MEMBER_STACK_NAME}


# --- forwarders --------------------------------------------------------------------------------------------


def test_forwarders_have_the_hubs_rules_with_the_same_patterns(
    variant_template: Template, forwarders: dict[str, Template]
) -> None:
    hub = rule_patterns(variant_template)
    assert set(hub) == {
        "GuardDutyFindings",
        "SecurityHubFindings",
        "SecurityHubOcsfFindings",
        "SecurityHubCustomAction",
        "CloudWatchAlarms",
    }
    for template in forwarders.values():
        assert rule_patterns(template) == hub


def test_the_hubs_patterns_take_forwarded_events_as_they_are(variant_template: Template) -> None:
    # A forwarded event keeps its source, detail-type, account and region. No pattern pins a region or an
    # account, so the hub takes it as it takes a local one; its default bus takes it with no bus policy (the
    # forwarders are in the hub's account).
    for name, pattern in rule_patterns(variant_template).items():
        # The custom action is named by its ARN's end, whatever region the click was in.
        expected = {"source", "detail-type", "resources" if name == "SecurityHubCustomAction" else "detail"}
        assert set(pattern) == expected
        assert "account" not in pattern and "region" not in pattern
    assert not resources(variant_template, "AWS::Events::EventBusPolicy")


def test_every_forwarder_rule_sends_to_the_home_bus_with_retries_and_its_own_dead_letter_queue(
    forwarders: dict[str, Template],
) -> None:
    for template in forwarders.values():
        (role_id,) = resources(template, "AWS::IAM::Role")
        queues_used = []
        for rule_id, rule in resources(template, "AWS::Events::Rule").items():
            (target,) = rule["Properties"]["Targets"]
            assert arn_text(target["Arn"]) == HOME_BUS, rule_id
            assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
            assert target["RetryPolicy"] == {
                "MaximumRetryAttempts": EVENT_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": DAY_SECONDS,
            }
            queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            queues_used.append(queue_id)
            queue = template["Resources"][queue_id]["Properties"]
            assert queue["SqsManagedSseEnabled"] is True
            assert queue["MessageRetentionPeriod"] == 14 * DAY_SECONDS
            (policy,) = [
                p
                for p in resources(template, "AWS::SQS::QueuePolicy").values()
                if {"Ref": queue_id} in p["Properties"]["Queues"]
            ]
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            (deny,) = [st for st in statements if st["Effect"] == "Deny"]
            assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            (delivery,) = [st for st in statements if st["Effect"] == "Allow"]
            assert delivery["Principal"] == {"Service": "events.amazonaws.com"}
            assert delivery["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
        assert sorted(queues_used) == sorted(resources(template, "AWS::SQS::Queue"))


def test_the_forwarder_role_may_only_put_events_on_the_home_bus(forwarders: dict[str, Template]) -> None:
    for region, template in forwarders.items():
        ((role_id, role),) = resources(template, "AWS::IAM::Role").items()
        assert "ManagedPolicyArns" not in role["Properties"]
        statements = role_statements(template, role_id)
        assert [(st["Effect"], st["Action"], arn_text(st["Resource"])) for st in statements] == [
            ("Allow", "events:PutEvents", HOME_BUS)
        ]
        # Only EventBridge, for this account's rules in the forwarder's own region.
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
        assert arn_text(trust["Condition"]["ArnLike"]["aws:SourceArn"]) == (
            f"arn:${{AWS::Partition}}:events:{region}:${{AWS::AccountId}}:rule/*"
        )


def test_forwarders_are_protected_from_containment(forwarders: dict[str, Template]) -> None:
    for template in forwarders.values():
        for lid, resource in template["Resources"].items():
            if resource["Type"] in ("AWS::IAM::Role", "AWS::SQS::Queue", "AWS::Events::Rule"):
                assert {"Key": "team:do-not-touch", "Value": "true"} in resource["Properties"]["Tags"], lid


# --- the StackSet ------------------------------------------------------------------------------------------


def test_the_stackset_is_service_managed_and_deploys_automatically(stack_set: dict[str, Any]) -> None:
    assert stack_set["StackSetName"] == STACKSET_NAME
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    # The variant's StackSet stack lives in the management account.
    assert stack_set["CallAs"] == "SELF"
    # Accounts that join an OU get the member stack; accounts that leave lose it.
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["Capabilities"] == ["CAPABILITY_NAMED_IAM"]


def test_the_stackset_targets_the_configured_ous_but_the_hub_account_once_per_account(
    stack_set: dict[str, Any],
) -> None:
    (group,) = stack_set["StackInstancesGroup"]
    # The hub's account deploys TourniquetMember itself; a second copy there would clash on the role names.
    assert group["DeploymentTargets"] == {
        "OrganizationalUnitIds": STACKSET_OUS,
        "AccountFilterType": "DIFFERENCE",
        "Accounts": [HUB_ACCOUNT],
    }
    # IAM is global: one instance per account, in the home region.
    assert group["Regions"] == [HOME]


def test_stackset_operations_tolerate_a_few_failures_and_run_regions_in_parallel(
    stack_set: dict[str, Any],
) -> None:
    preferences = stack_set["OperationPreferences"]
    assert preferences["RegionConcurrencyType"] == "PARALLEL"
    assert 0 < preferences["FailureTolerancePercentage"] < preferences["MaxConcurrentPercentage"] <= 100
    assert preferences["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"


def test_the_stackset_deploys_exactly_the_member_template(
    stack_set: dict[str, Any], variant_synthesis: Synthesis
) -> None:
    body = stack_set["TemplateBody"]
    assert isinstance(body, str)
    assert json.loads(body) == variant_synthesis.member_template
    # The member roles trust the hub's roles in the hub's account, not in each member's own.
    assert f"arn:${{AWS::Partition}}:iam::{HUB_ACCOUNT}:role/Tourniquet-Contain" in {
        arn_text(role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"])
        for role in resources(variant_synthesis.member_template, "AWS::IAM::Role").values()
    }
    assert len(body.encode()) <= stackset.TEMPLATE_BODY_LIMIT


# --- the member template the StackSet inlines --------------------------------------------------------------


class _MemberWithAsset(MemberStack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        s3_assets.Asset(self, "Code", path=__file__)


def test_a_member_stack_with_an_asset_cannot_be_inlined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stackset, "MemberStack", _MemberWithAsset)
    context = project_context()
    with pytest.raises(ValueError, match="the member stack must have no assets"):
        stackset.member_template_body(context, config=load_config(context), env=None)


def test_a_member_template_over_the_inline_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stackset, "TEMPLATE_BODY_LIMIT", 1000)
    context = project_context()
    with pytest.raises(ValueError, match="a StackSet takes 1000 inline"):
        stackset.member_template_body(context, config=load_config(context), env=None)


# --- who may assume the member roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "hub_account", "organization"),
    [
        ("member_template", "${AWS::AccountId}", None),
        ("variant_member_template", HUB_ACCOUNT, ORGANIZATION_ID),
    ],
)
def test_each_member_role_trusts_only_its_hub_role_with_the_external_id_and_the_organization(
    request: pytest.FixtureRequest, fixture: str, hub_account: str, organization: str | None
) -> None:
    template: Template = request.getfixturevalue(fixture)
    for role_name, hub_function in (
        ("TourniquetDiagnose", "Diagnose"),
        ("TourniquetContain", "Contain"),
        ("TourniquetRelease", "Release"),
    ):
        (role,) = [
            r
            for r in resources(template, "AWS::IAM::Role").values()
            if r["Properties"]["RoleName"] == role_name
        ]
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"}
        assert list(statement["Principal"]) == ["AWS"]
        assert arn_text(statement["Principal"]["AWS"]) == (
            f"arn:${{AWS::Partition}}:iam::{hub_account}:role/Tourniquet-{hub_function}"
        )
        expected = {"sts:ExternalId": "tourniquet"}
        if organization is not None:
            expected["aws:PrincipalOrgID"] = organization
        assert statement["Condition"] == {"StringEquals": expected}
