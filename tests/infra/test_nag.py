"""cdk-nag (AwsSolutions): no finding without an acknowledgment; every acknowledgment narrow and reasoned."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsii
import pytest
from aws_cdk import (
    App,
    CfnResource,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Stack,
    Validations,
)

from stacks.names import MEMBER_STACK_NAME, PIPELINE_STACK_NAME
from stacks.pipeline import FORWARDER_STAGE_PREFIX, HUB_STAGE, MEMBERS_STAGE
from stacks.synth import Synthesis, synth_with_report

SYNTHESES = ["synthesis", "variant_synthesis", "minimal_synthesis", "pipeline_synthesis"]
PLUGIN = "AwsSolutions"
# The rules this stack accepts exceptions to; a new kind of exception is a change reviewers must see here.
ACCEPTED_RULES = {
    "AwsSolutions-APIG4",  # the routes authenticate in the function (Slack signature, bearer token or HMAC)
    "AwsSolutions-IAM5",  # wildcards AWS requires, or scoped by account, region and conditions
    "AwsSolutions-L1",  # the runtime is pinned to the vendored wheels' Python
    "AwsSolutions-SMG4",  # secrets whose other copy lives in Slack, Grafana or Alertmanager
    "AwsSolutions-SQS3",  # the queues are dead-letter queues themselves
}
# The pipeline's own exceptions (CDK Pipelines' constructs), acknowledged only in the pipeline's stacks.
PIPELINE_RULES = {
    "AwsSolutions-S1",  # the artifact and replication buckets keep no access logs of their own
    "AwsSolutions-IAM4",  # the approval function's AWS-managed basic execution policy
}
# Wildcard actions granted anywhere; each must be read-only.
ACCEPTED_WILDCARD_ACTIONS = {"ec2:Describe*"}
MIN_REASON_LENGTH = 80


def get_synthesis(request: pytest.FixtureRequest, name: str) -> Synthesis:
    synthesis: Synthesis = request.getfixturevalue(name)
    assert synthesis.validation_report is not None
    return synthesis


def plugin_report(synthesis: Synthesis) -> dict[str, Any]:
    assert synthesis.validation_report is not None
    (report,) = [r for r in synthesis.validation_report["pluginReports"] if r["pluginName"] == PLUGIN]
    return report


# CDK gives the pipeline's stacks in other regions construct ids of this form, and stack names of its own.
_SUPPORT_STACK = re.compile(r"cross-region-stack-\d{12}:(?P<region>[a-z0-9-]+)")
# A construct path in one of the pipeline's stages starts with the stage.
_STAGE = re.compile(rf"^({HUB_STAGE}|{MEMBERS_STAGE}|{FORWARDER_STAGE_PREFIX}[a-z0-9-]+)/")


def stack_and_construct(path: str) -> tuple[str, str]:
    """The name of the stack a construct path lies in, and the path below the stack."""
    stack, _, construct = _STAGE.sub("", path).partition("/")
    support = _SUPPORT_STACK.fullmatch(stack)
    return (f"{PIPELINE_STACK_NAME}-support-{support['region']}" if support else stack), construct


def registered(synthesis: Synthesis) -> set[tuple[str, str]]:
    """(construct path, acknowledged id) for every AwsSolutions acknowledgment the stack makes."""
    return {
        (path.lstrip("/"), finding)
        for path, findings in synthesis.acknowledgments.items()
        for finding in findings
        if finding.startswith(f"{PLUGIN}::")
    }


@pytest.mark.parametrize("name", SYNTHESES)
def test_no_unacknowledged_finding(request: pytest.FixtureRequest, name: str) -> None:
    report = plugin_report(get_synthesis(request, name))
    findings = [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for violation in report["violations"]
        for construct in violation["violatingConstructs"]
    ]
    assert findings == []
    assert report["conclusion"] == "success"


@pytest.mark.parametrize("name", SYNTHESES)
def test_every_acknowledgment_suppresses_a_finding(request: pytest.FixtureRequest, name: str) -> None:
    synthesis = get_synthesis(request, name)
    used = {
        (violation["acknowledgedAt"], violation["acknowledgedId"])
        for violation in plugin_report(synthesis)["suppressedViolations"]
    }
    assert registered(synthesis) == used


@pytest.mark.parametrize("name", SYNTHESES)
def test_acknowledgments_are_on_single_constructs_with_a_reason(
    request: pytest.FixtureRequest, name: str
) -> None:
    synthesis = get_synthesis(request, name)
    acknowledged = registered(synthesis)
    assert acknowledged
    for path, finding in acknowledged:
        # Never the app or a whole stack: a construct inside one, such as TourniquetMember/ContainRole (or
        # Hub/TourniquetMember/ContainRole in the pipeline's stage).
        stack, construct = stack_and_construct(path)
        assert stack in synthesis.templates and construct, path
        reason = synthesis.acknowledgments[f"/{path}"][finding]
        assert len(reason) >= MIN_REASON_LENGTH, f"{path} {finding}: {reason!r}"


def test_only_the_accepted_rules_are_acknowledged(synthesis: Synthesis) -> None:
    rules = {finding.removeprefix(f"{PLUGIN}::").split("[")[0] for _, finding in registered(synthesis)}
    assert rules == ACCEPTED_RULES


def test_the_pipeline_adds_its_exceptions_only_to_its_own_stacks(pipeline_synthesis: Synthesis) -> None:
    by_rule: dict[str, set[str]] = {}
    for path, finding in registered(pipeline_synthesis):
        stack, _ = stack_and_construct(path)
        by_rule.setdefault(finding.removeprefix(f"{PLUGIN}::").split("[")[0], set()).add(stack)
    assert set(by_rule) == ACCEPTED_RULES | PIPELINE_RULES
    for rule in PIPELINE_RULES:
        assert {stack.partition("-support-")[0] for stack in by_rule[rule]} == {PIPELINE_STACK_NAME}, rule


def test_wildcard_actions_acknowledged_are_read_only(synthesis: Synthesis) -> None:
    actions = {
        finding.split("[Action::", 1)[1].rstrip("]")
        for _, finding in registered(synthesis)
        if "[Action::" in finding
    }
    assert actions == ACCEPTED_WILDCARD_ACTIONS


def test_containment_wildcard_resources_are_acknowledged_one_by_one(synthesis: Synthesis) -> None:
    contain = {
        finding.removeprefix(f"{PLUGIN}::AwsSolutions-IAM5")
        for path, finding in registered(synthesis)
        if path == f"{MEMBER_STACK_NAME}/ContainRole" and "IAM5[Resource::" in finding
    }
    # Regional ARNs name any region: the member role is global, aws:RequestedRegion bounds its writes.
    assert contain == {
        "[Resource::*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:*]",
        "[Resource::arn:<AWS::Partition>:ec2:*::snapshot/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:volume/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:network-interface/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:vpc/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:security-group/*]",
        "[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:security-group-rule/*]",
        "[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/*]",
        "[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*]",
        "[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*]",
        "[Resource::arn:<AWS::Partition>:autoscaling:*:<AWS::AccountId>:autoScalingGroup:*]",
        "[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:<AWS::AccountId>:targetgroup/*]",
        "[Resource::arn:<AWS::Partition>:elasticloadbalancing:*:<AWS::AccountId>:loadbalancer/*]",
    }


@jsii.implements(IPolicyValidationPlugin)
class _AlwaysFinds:
    """A validation plugin with one finding on every synthesis."""

    @property
    def name(self) -> str:
        return "AlwaysFinds"

    @property
    def rule_ids(self) -> list[str]:
        return ["ALWAYS1"]

    @property
    def version(self) -> str:
        return "1.0.0"

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        return PolicyValidationPluginReport(
            success=False,
            plugin_version="1",
            metadata={},
            violations=[
                PolicyViolation(
                    rule_name="ALWAYS1",
                    description="always found",
                    fix="nothing to fix",
                    severity="error",
                    violating_resources=[
                        PolicyViolatingResource(
                            locations=["/Resources/Queue"],
                            construct_path="Small/Queue",
                            resource_logical_id="Queue",
                            template_path=context.template_paths[0],
                        )
                    ],
                )
            ],
        )


def test_a_finding_is_reported_for_the_tests_to_name_not_raised(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    CfnResource(Stack(app, "Small"), "Queue", type="AWS::SQS::Queue")
    Validations.of(app).add_plugins(_AlwaysFinds())
    report = synth_with_report(app, tmp_path, validating=True)
    assert report is not None
    (plugin,) = report["pluginReports"]
    assert plugin["conclusion"] == "failure"
    assert [v["ruleName"] for v in plugin["violations"]] == ["ALWAYS1"]
