"""The optional pipeline: off by default and then without a trace, and, when configured (the PIPELINE
synthesis: the variant with a pipeline), the same stacks deployed from every commit, tests first, a person
approving any broadening of permissions, then the StackSet to every member account."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stacks import pipeline as pipeline_module
from stacks.config import PROJECT_ROOT, ConfigError, load_config, project_context
from stacks.names import (
    MEMBER_STACK_NAME,
    PIPELINE_STACK_NAME,
    STACK_NAME,
    STACKSET_STACK_NAME,
    forwarder_stack_name,
)
from stacks.pipeline import (
    CDK_ASSETS_VERSION,
    CDK_CLI_VERSION,
    forwarder_stage_name,
    repository_path,
    synth_commands,
)
from stacks.synth import Synthesis
from tests.infra import syntheses
from tests.infra.cfn import Template, arn_text, as_list, only, resources, role_statements
from tests.infra.configs import (
    BRANCH,
    CONNECTION_ARN,
    HUB_ACCOUNT,
    MANAGEMENT_ACCOUNT,
    REPOSITORY,
    VARIANT_REGIONS,
)

HOME, *FORWARDED = VARIANT_REGIONS
SUPPORT_STACKS = {f"{PIPELINE_STACK_NAME}-support-{region}" for region in FORWARDED}
PIPELINE_STACKS = {PIPELINE_STACK_NAME, *SUPPORT_STACKS}
# CDK names the statement that lets a rule use its dead-letter queue after the rule's construct path, which
# in a pipeline's stage starts with the stage.
_RULE_SID = re.compile(r'"AllowEventRule[A-Za-z0-9]+"')


@pytest.fixture(scope="module")
def pipeline_template(pipeline_synthesis: Synthesis) -> Template:
    return pipeline_synthesis.templates[PIPELINE_STACK_NAME]


@pytest.fixture(scope="module")
def stages(pipeline_template: Template) -> dict[str, list[dict[str, Any]]]:
    """Pipeline stage name → its actions."""
    _, pipeline = only(pipeline_template, "AWS::CodePipeline::Pipeline")
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}


def build_spec(template: Template, project_prefix: str) -> str:
    _, project = next(
        (lid, res)
        for lid, res in resources(template, "AWS::CodeBuild::Project").items()
        if lid.startswith(project_prefix)
    )
    spec = project["Properties"]["Source"]["BuildSpec"]
    return spec if isinstance(spec, str) else json.dumps(spec)


# --- off by default ----------------------------------------------------------------------------------------


def test_the_pipeline_is_off_by_default_and_leaves_no_trace(
    synthesis: Synthesis, variant_synthesis: Synthesis, minimal_synthesis: Synthesis
) -> None:
    assert load_config(project_context()).pipeline is None
    for each in (synthesis, variant_synthesis, minimal_synthesis):
        assert PIPELINE_STACK_NAME not in each.templates
        for template in each.templates.values():
            assert not resources(template, "AWS::CodePipeline::Pipeline")
            assert not resources(template, "AWS::CodeBuild::Project")


def test_without_the_pipeline_the_default_templates_are_byte_for_byte_the_stacks_alone(
    synthesis: Synthesis,
) -> None:
    alone = syntheses.synthesis(syntheses.STACKS_ALONE)
    assert synthesis.dependencies == alone.dependencies
    assert set(synthesis.templates) == set(alone.templates)
    for stack, template in alone.templates.items():
        # The JSON text, key order included: what CloudFormation receives.
        assert json.dumps(synthesis.templates[stack]) == json.dumps(template), stack


# --- the same stacks ---------------------------------------------------------------------------------------


def test_the_stages_deploy_the_stacks_cdk_deploy_deploys_under_the_same_names(
    pipeline_synthesis: Synthesis, variant_synthesis: Synthesis
) -> None:
    assert set(pipeline_synthesis.templates) == set(variant_synthesis.templates) | PIPELINE_STACKS
    for stack, template in variant_synthesis.templates.items():
        staged = json.dumps(pipeline_synthesis.templates[stack])
        # Turning the pipeline on adopts the deployed stacks: the same resources under the same logical ids,
        # only the dead-letter queue policies' statement ids change (in place).
        assert _RULE_SID.sub('"AllowEventRule"', staged) == _RULE_SID.sub(
            '"AllowEventRule"', json.dumps(template)
        ), stack


def test_stage_order_stands_for_the_dependencies(stages: dict[str, list[dict[str, Any]]]) -> None:
    # The forwarders and the StackSet in stages after the hub's, whose roles and rules they name.
    assert len(FORWARDED) >= 2
    assert list(stages) == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "Hub",
        *(forwarder_stage_name(region) for region in FORWARDED),
        "Members",
    ]
    order = {action["Name"]: action["RunOrder"] for action in stages["Hub"]}
    # The member stack after the hub, whose roles it trusts.
    assert order["TourniquetMember.Prepare"] > order["Tourniquet.Deploy"]
    assert {_stack_name(action) for action in stages["Hub"] if _deploys(action)} == {
        STACK_NAME,
        MEMBER_STACK_NAME,
    }
    assert [_stack_name(action) for action in stages["Members"]] == [STACKSET_STACK_NAME] * 2


# --- from a commit to every account ------------------------------------------------------------------------


def test_the_source_is_the_configured_branch_through_the_connection(
    stages: dict[str, list[dict[str, Any]]], pipeline_template: Template
) -> None:
    (source,) = stages["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": REPOSITORY,
        "BranchName": BRANCH,
    }
    # The connection, and no other, under the service's old and new names (a codeconnections ARN).
    role = source["RoleArn"]["Fn::GetAtt"][0]
    uses = [st for st in role_statements(pipeline_template, role) if "UseConnection" in json.dumps(st)]
    assert [(sorted(as_list(st["Action"])), st["Resource"]) for st in uses] == [
        (["codeconnections:UseConnection", "codestar-connections:UseConnection"], CONNECTION_ARN)
    ]


def test_nothing_is_synthesized_for_deployment_before_the_tests_pass(pipeline_template: Template) -> None:
    spec = json.loads(build_spec(pipeline_template, "PipelineBuildSynth"))
    assert spec["phases"]["build"]["commands"] == synth_commands(None)
    assert spec["phases"]["build"]["commands"][0] == "make test"
    assert spec["phases"]["install"]["runtime-versions"] == pipeline_module.RUNTIME_VERSIONS


def test_every_cdk_tool_the_pipeline_installs_is_pinned(pipeline_template: Template) -> None:
    assert f"aws-cdk@{CDK_CLI_VERSION} synth" in build_spec(pipeline_template, "PipelineBuildSynth")
    assert f"npm install -g aws-cdk@{CDK_CLI_VERSION}" in build_spec(
        pipeline_template, "PipelineUpdatePipelineSelfMutation"
    )
    assert f"npm install -g cdk-assets@{CDK_ASSETS_VERSION}" in build_spec(
        pipeline_template, "PipelineAssetsFileAsset"
    )


def test_the_makefile_and_the_pipeline_use_one_cdk_cli() -> None:
    pins = set(re.findall(r"aws-cdk@([\w.]+)", (PROJECT_ROOT / "Makefile").read_text()))
    assert pins == {CDK_CLI_VERSION}


def _deploys(action: dict[str, Any]) -> bool:
    return bool(action["ActionTypeId"]["Provider"] == "CloudFormation")


def _stack_name(action: dict[str, Any]) -> str:
    return str(action["Configuration"]["StackName"])


def _deploy_role(action: dict[str, Any]) -> str:
    return arn_text(action["RoleArn"])


def _hub_account_deploy_role(region: str) -> str:
    """The CDK deploy role of the hub's account (the pipeline's own) in ``region``."""
    return (
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-hnb659fds-deploy-role-"
        f"${{AWS::AccountId}}-{region}"
    )


def _confirmed_first(
    stage: str, actions: list[dict[str, Any]], pipeline_template: Template
) -> list[dict[str, Any]]:
    """Assert that ``stage`` starts with the permissions check and its confirmation, diffing this stage and
    telling the approval topic; return the actions after them."""
    check, confirm, *deploys = sorted(actions, key=lambda action: action["RunOrder"])
    assert (check["Name"], check["ActionTypeId"]["Provider"]) == ("ConfirmPermissions.Check", "CodeBuild")
    assert (confirm["Name"], confirm["ActionTypeId"]["Provider"]) == ("ConfirmPermissions.Confirm", "Manual")
    assert deploys and all(_deploys(action) for action in deploys)
    assert check["RunOrder"] < confirm["RunOrder"] < min(action["RunOrder"] for action in deploys)
    topic_id, _ = only(pipeline_template, "AWS::SNS::Topic")
    variables = {
        variable["name"]: variable["value"]
        for variable in json.loads(arn_text(check["Configuration"]["EnvironmentVariables"]))
    }
    assert variables["STAGE_PATH"] == stage
    assert variables["NOTIFICATION_ARN"] == f"${{{topic_id}}}"
    return deploys


def test_a_person_confirms_broadened_permissions_before_the_hub_stage_deploys(
    stages: dict[str, list[dict[str, Any]]], pipeline_template: Template
) -> None:
    _confirmed_first("Hub", stages["Hub"], pipeline_template)
    # The check diffs the whole stage, TourniquetMember (the StackSet's template) included.
    assert "cdk diff -a . --security-only --fail $STAGE_PATH/" in build_spec(
        pipeline_template, "PipelinePipelinesSecurityCheck"
    )
    # The approvers hear of it on the encrypted, TLS-only topic.
    _, topic = only(pipeline_template, "AWS::SNS::Topic")
    assert arn_text(topic["Properties"]["KmsMasterKeyId"]).endswith(":alias/aws/sns")
    (policy,) = resources(pipeline_template, "AWS::SNS::TopicPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


@pytest.mark.parametrize("region", FORWARDED)
def test_each_forwarder_deploys_in_its_own_stage_in_its_region_after_a_person_confirms_broadening(
    stages: dict[str, list[dict[str, Any]]], pipeline_template: Template, region: str
) -> None:
    # The forwarder's role delivers the region's events to the hub's bus: IAM, so a check of its own.
    stage = forwarder_stage_name(region)
    deploys = _confirmed_first(stage, stages[stage], pipeline_template)
    assert {_stack_name(action) for action in deploys} == {forwarder_stack_name(region)}
    for action in deploys:
        assert action["Region"] == region
        assert _deploy_role(action) == _hub_account_deploy_role(region)


def test_the_hub_stage_deploys_in_the_pipelines_account_and_the_stackset_in_its_own(
    stages: dict[str, list[dict[str, Any]]],
) -> None:
    for action in filter(_deploys, stages["Hub"]):
        # The pipeline's own region, which the action does not repeat.
        assert "Region" not in action
        assert _deploy_role(action) == _hub_account_deploy_role(HOME)
    for action in stages["Members"]:
        assert _deploy_role(action) == (
            f"arn:${{AWS::Partition}}:iam::{MANAGEMENT_ACCOUNT}:role/cdk-hnb659fds-deploy-role-"
            f"{MANAGEMENT_ACCOUNT}-{HOME}"
        )
        assert "Region" not in action


# --- the artifacts -----------------------------------------------------------------------------------------


def _buckets(pipeline_synthesis: Synthesis) -> list[tuple[Template, str, dict[str, Any]]]:
    found = []
    for stack in PIPELINE_STACKS:
        template = pipeline_synthesis.templates[stack]
        for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
            found.append((template, bucket_id, bucket))
    return found


def test_the_artifact_buckets_are_kms_encrypted_with_rotating_keys_and_tls_only(
    pipeline_synthesis: Synthesis,
) -> None:
    buckets = _buckets(pipeline_synthesis)
    # The artifact bucket, and a replication bucket in each forwarded region.
    assert len(buckets) == 1 + len(FORWARDED)
    for template, bucket_id, bucket in buckets:
        properties = bucket["Properties"]
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        (key,) = resources(template, "AWS::KMS::Key").values()
        assert key["Properties"]["EnableKeyRotation"] is True
        assert all(properties["PublicAccessBlockConfiguration"].values())
        (policy,) = [
            p
            for p in resources(template, "AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": bucket_id}
        ]
        deny = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
        assert [(st["Action"], st["Condition"]) for st in deny] == [
            ("s3:*", {"Bool": {"aws:SecureTransport": "false"}})
        ]


def test_only_the_deploy_roles_of_the_two_accounts_may_read_the_artifacts(
    pipeline_template: Template,
) -> None:
    (policy,) = resources(pipeline_template, "AWS::S3::BucketPolicy").values()
    (grant,) = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Allow"]
    assert set(grant["Action"]) == {"s3:GetBucket*", "s3:GetObject*", "s3:List*"}
    readers = {arn_text(principal) for principal in grant["Principal"]["AWS"]}
    assert readers == {
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-hnb659fds-deploy-role-${{AWS::AccountId}}-{HOME}",
        f"arn:${{AWS::Partition}}:iam::{MANAGEMENT_ACCOUNT}:role/cdk-hnb659fds-deploy-role-{MANAGEMENT_ACCOUNT}-{HOME}",
    }


def test_the_wildcard_actions_concern_only_the_artifact_buckets_and_keys(pipeline_template: Template) -> None:
    _, pipeline = only(pipeline_template, "AWS::CodePipeline::Pipeline")
    pipeline_role = pipeline["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    wildcard = re.compile(r"^(s3|kms):\w+\*$")
    for role_id in resources(pipeline_template, "AWS::IAM::Role"):
        for statement in role_statements(pipeline_template, role_id):
            actions = as_list(statement["Action"])
            if not any(wildcard.match(action) for action in actions):
                continue
            for resource in as_list(statement["Resource"]):
                text = json.dumps(resource)
                if resource == "*":
                    # The replication buckets' keys, which the pipeline knows only by alias in their regions.
                    assert role_id == pipeline_role and all(a.startswith("kms:") for a in actions), statement
                elif text.endswith(':key/*"]]}'):
                    # The approval topic's AWS-managed key.
                    assert statement["Condition"] == {
                        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/aws/sns"}
                    }
                else:
                    assert any(
                        name in text for name in ("PipelineArtifactsBucket", "supporeplicationbucket")
                    ), (role_id, statement)


def test_the_pipeline_lives_in_the_hub_account_and_is_protected_from_containment(
    pipeline_synthesis: Synthesis,
) -> None:
    for stack in PIPELINE_STACKS:
        template = pipeline_synthesis.templates[stack]
        tagged = [
            res
            for res in template["Resources"].values()
            if res["Type"]
            in ("AWS::IAM::Role", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::CodePipeline::Pipeline")
        ]
        assert tagged, stack
        for resource in tagged:
            assert {"Key": "team:do-not-touch", "Value": "true"} in resource["Properties"]["Tags"]
    key = next(iter(resources(pipeline_synthesis.templates[PIPELINE_STACK_NAME], "AWS::KMS::Key").values()))
    (admin, *_) = key["Properties"]["KeyPolicy"]["Statement"]
    assert arn_text(admin["Principal"]["AWS"]) == f"arn:${{AWS::Partition}}:iam::{HUB_ACCOUNT}:root"


# --- the config file the pipeline synthesizes with ---------------------------------------------------------


def test_the_pipeline_synthesizes_with_the_config_file_of_the_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    assert repository_path(None) is None
    assert repository_path("deploy/org prod.yaml") == "deploy/org prod.yaml"
    assert repository_path(str(PROJECT_ROOT / "deploy" / "org.yaml")) == "deploy/org.yaml"
    assert synth_commands("deploy/org prod.yaml") == [
        "make test",
        f"npx -y aws-cdk@{CDK_CLI_VERSION} synth --quiet -c config='deploy/org prod.yaml'",
    ]


@pytest.mark.parametrize("name", ["/etc/tourniquet.yaml", "../elsewhere/org.yaml"])
def test_a_config_file_outside_the_repository_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    with pytest.raises(ConfigError, match=r"the pipeline synthesizes from the repository; commit the file"):
        repository_path(name)
