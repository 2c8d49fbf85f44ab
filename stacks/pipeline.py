"""The optional delivery pipeline: every commit of one branch, tested, synthesized and deployed to the hub's
account and, through the StackSet, to every member account.

CDK Pipelines in the hub's account and home region: Source (a CodeConnections connection to the repository)
→ Build (``make test``, then ``cdk synth``) → UpdatePipeline (the pipeline first deploys its own changes) →
Assets → Hub (the hub and its member stack) → ``Forwarder-<region>`` for each forwarded region (that region's
forwarder, in the hub's account) → Members (the StackSet stack, in the management account or the StackSets
delegated administrator; the StackSet rolls the member template out to every account of its OUs). Every stage
that holds IAM, the Hub and each Forwarder stage, starts with a check that stops for a person when IAM or
security-group permissions would broaden; the Members stage deploys the member template the Hub stage's check
covered. The stages build the stacks as ``cdk deploy`` does (:mod:`stacks.deployment`), under the same stack
names, and their order stands for the stacks' dependencies (stacks in different stages cannot depend on each
other).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from aws_cdk import CfnOutput, Environment, Stack, Stage, Tags, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from stacks.config import CONFIG_FILE_KEY, PROJECT_ROOT, ConfigError, TourniquetConfig
from stacks.deployment import HubStacks, add_forwarder_stack, add_hub_stacks, add_stackset_stack
from stacks.forwarder import ForwarderStack
from stacks.nag import acknowledge

# The CLI the Makefile pins: 3.x cannot read this library's cloud assembly.
CDK_CLI_VERSION = "2.1148.1"
# CDK Pipelines publishes assets with cdk-assets@latest by default, and cdk-assets 4.x refuses this
# library's asset manifests (schema 55); 3.3.1 reads them.
CDK_ASSETS_VERSION = "3.3.1"
PIPELINE_NAME = "Tourniquet"
HUB_STAGE = "Hub"
FORWARDER_STAGE_PREFIX = "Forwarder-"
MEMBERS_STAGE = "Members"
# Ubuntu 22.04 with the project's Python (.python-version) and the Node.js the library runs on.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "20"}
# The Makefile installs uv with pip; the function asset's bundling finds it on the PATH.
INSTALL_COMMANDS = (
    "python3 -m pip install --quiet uv",
    'export PATH="$(python3 -c \'import sysconfig; print(sysconfig.get_path("scripts"))\'):$PATH"',
)
CODECONNECTIONS = "codeconnections"
# The AWS-managed SNS key: the approval notices carry links, not secrets.
SNS_MANAGED_KEY = "alias/aws/sns"

_CODEBUILD_GRANTS = (
    "CodeBuild writes the build's logs and test reports to a log group and report groups named after "
    "the project, whose ids end in a suffix CodeBuild chooses; the grant is CDK's, for this project only."
)


def repository_path(name: str | None) -> str | None:
    """The config file named with ``-c config=…`` as a path inside the repository, the way the pipeline's
    own synthesis names it; None without one.

    Raises ConfigError for a file outside the repository: the pipeline synthesizes from a clone of it.
    """
    if name is None:
        return None
    path = Path(name).resolve()
    if not path.is_relative_to(PROJECT_ROOT):
        raise ConfigError(
            f"config file '{name}': the pipeline synthesizes from the repository; commit the file there"
        )
    return path.relative_to(PROJECT_ROOT).as_posix()


def synth_commands(config_file: str | None) -> list[str]:
    """What the Build step runs: the test suite, then the synthesis the pipeline deploys."""
    synth = f"npx -y aws-cdk@{CDK_CLI_VERSION} synth --quiet"
    if config_file is not None:
        synth += f" -c {CONFIG_FILE_KEY}={shlex.quote(config_file)}"
    return ["make test", synth]


def forwarder_stage_name(region: str) -> str:
    """The pipeline stage that deploys the forwarder of ``region``."""
    return f"{FORWARDER_STAGE_PREFIX}{region}"


class HubStage(Stage):
    """The hub's account: the hub and its member stack, deployed where the pipeline is."""

    def __init__(self, scope: Construct, construct_id: str, *, config: TourniquetConfig) -> None:
        super().__init__(scope, construct_id)
        self.stacks: HubStacks = add_hub_stacks(self, config)


class ForwarderStage(Stage):
    """One forwarded region: its forwarder, in the hub's account (the pipeline's).

    Like the Hub stage, it names no account: its stacks' templates stay those ``cdk deploy`` deploys.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: TourniquetConfig, region: str) -> None:
        super().__init__(scope, construct_id)
        self.stack: ForwarderStack = add_forwarder_stack(self, config, region)


class MembersStage(Stage):
    """The StackSet stack, in the account that administers the organization's StackSets."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        context: Mapping[str, Any],
        account: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stackset = add_stackset_stack(self, config, context=context, account=account)


class PipelineStack(Stack):
    """The pipeline that deploys ``hub``, then ``forwarders`` in turn, then ``members``, from every commit of
    the configured branch."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        config_file: str | None,
        hub: HubStage,
        forwarders: Sequence[ForwarderStage],
        members: MembersStage | None,
    ) -> None:
        settings = config.pipeline
        # The config requires these with a pipeline.
        assert settings is not None and config.hub_account_id is not None
        super().__init__(
            scope,
            construct_id,
            description="Tourniquet pipeline: deploys every commit of the branch to the hub's account and, "
            "through the StackSet, to every member account",
            env=Environment(account=config.hub_account_id, region=config.home_region),
        )
        source = pipelines.CodePipelineSource.connection(
            settings.repository, settings.branch, connection_arn=settings.connection_arn, action_name="Source"
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=PIPELINE_NAME,
            synth=pipelines.CodeBuildStep(
                "Synth",
                input=source,
                install_commands=list(INSTALL_COMMANDS),
                commands=synth_commands(config_file),
                # The tests run two workers; the small machine's 3 GB is tight for two CDK synthesizers.
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.MEDIUM
                ),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}}
                ),
            ),
            # The artifact bucket (TLS only) is encrypted with a key of the pipeline's own, rotated yearly,
            # which the deploy roles of the other accounts may use; S3's own key could not be shared.
            cross_account_keys=True,
            enable_key_rotation=True,
            cli_version=CDK_CLI_VERSION,
            cdk_assets_cli_version=CDK_ASSETS_VERSION,
        )
        self.approval_topic = sns.Topic(
            self,
            "ApprovalTopic",
            display_name="Tourniquet deployments waiting for approval",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", SNS_MANAGED_KEY),
            enforce_ssl=True,
        )
        # The hub stage holds TourniquetMember, whose template the StackSet deploys to every member account:
        # a person approves any broadening of the member roles here, before the StackSet stage. The forwarders
        # hold the roles that deliver their region's events to the hub's bus.
        for stage in (hub, *forwarders):
            self.pipeline.add_stage(
                stage,
                pre=[
                    pipelines.ConfirmPermissionsBroadening(
                        "ConfirmPermissions", stage=stage, notification_topic=self.approval_topic
                    )
                ],
            )
        if members is not None:
            self.pipeline.add_stage(members)
        # Built now rather than at synthesis, so that the roles, buckets and support stacks it generates
        # exist to be tagged and acknowledged.
        self.pipeline.build_pipeline()
        # CDK grants the source action codestar-connections:UseConnection; a connection made since the service
        # became CodeConnections (its ARN says so) is used under the new name.
        if settings.connection_arn.split(":")[2] == CODECONNECTIONS:
            source_role = cast(
                iam.Role,
                self.pipeline.pipeline.node.find_child("Source")
                .node.find_child("Source")
                .node.find_child("CodePipelineActionRole"),
            )
            source_role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[f"{CODECONNECTIONS}:UseConnection"], resources=[settings.connection_arn]
                )
            )
        support = self.pipeline.pipeline.cross_region_support
        # Another region's actions read the artifacts from a replication bucket there (a stack of its own).
        self.support_stacks: tuple[Stack, ...] = tuple(support[region].stack for region in sorted(support))
        for stack in (self, *self.support_stacks):
            # The product never contains itself.
            Tags.of(stack).add(config.protected_tag_key, "true")
        self._acknowledge()
        CfnOutput(self, "ApprovalTopicArn", value=self.approval_topic.topic_arn)

    @property
    def stacks(self) -> tuple[Stack, ...]:
        """The pipeline's own stacks: this one and the replication buckets' in other regions."""
        return (self, *self.support_stacks)

    def _ref(self, construct: IConstruct, attribute: str | None = None) -> str:
        """How cdk-nag writes a reference to ``construct``'s resource (or its ``attribute``) in a finding."""
        logical_id = self.get_logical_id(construct.node.default_child)  # type: ignore[arg-type]
        return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"

    def _arn(self, service: str, resource: str) -> str:
        """A regional ARN of this stack's account and region, as cdk-nag writes it in a finding."""
        return f"arn:<AWS::Partition>:{service}:{self.region}:{self.account}:{resource}"

    def _acknowledge(self) -> None:
        """Accept the findings on the roles and buckets CDK Pipelines makes, each on the one it concerns."""
        self._acknowledge_artifacts()
        for project in (self.pipeline.synth_project, self.pipeline.self_mutation_project):
            self._acknowledge_build_logs(project)
        self._acknowledge_self_mutation(self.pipeline.self_mutation_project.role)
        self._acknowledge_asset_publishing(
            self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        )
        self._acknowledge_permissions_check(self.pipeline.node.find_child("PipelinesSecurityCheck"))

    def _acknowledge_build_logs(self, project: codebuild.IProject) -> None:
        for resource in (
            self._arn("logs", f"log-group:/aws/codebuild/{self._ref(project)}:*"),
            self._arn("codebuild", f"report-group/{self._ref(project)}-*"),
        ):
            acknowledge(project.role, f"AwsSolutions-IAM5[Resource::{resource}]", _CODEBUILD_GRANTS)

    def _acknowledge_artifacts(self) -> None:
        pipeline = self.pipeline.pipeline
        bucket = pipeline.artifact_bucket
        artifacts = (
            "CDK Pipelines grants each role of the pipeline the use of its artifact bucket, which holds "
            "only this pipeline's sources, cloud assemblies and assets, encrypted with the pipeline's key"
        )
        for action in ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"):
            acknowledge(self.pipeline, f"AwsSolutions-IAM5[Action::{action}]", f"{artifacts} ({action}).")
        acknowledge(
            self.pipeline,
            f"AwsSolutions-IAM5[Resource::{self._ref(bucket, 'Arn')}/*]",
            f"{artifacts}: any object of that bucket.",
        )
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(
                self.pipeline,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK Pipelines grants each role of the pipeline the encryption and decryption of "
                f"artifacts with the pipeline's artifact keys ({action}); the grant names the keys.",
            )
        access_logs = (
            "The bucket holds only build artifacts, written and read by the pipeline's own roles under its "
            "key; every deployment is recorded by CodePipeline and CloudFormation. A log bucket of its own "
            "would hold nothing more useful than CloudTrail."
        )
        acknowledge(bucket, "AwsSolutions-S1", access_logs)
        for region, support in sorted(pipeline.cross_region_support.items()):
            replication = support.replication_bucket
            acknowledge(replication, "AwsSolutions-S1", access_logs)
            objects = f"arn:<AWS::Partition>:s3:::{self.resolve(replication.bucket_name)}/*"
            acknowledge(
                pipeline.role,
                f"AwsSolutions-IAM5[Resource::{objects}]",
                f"The pipeline copies artifacts to its replication bucket in {region} for the actions there "
                "(the forwarder stacks): any object of that bucket.",
            )
        if pipeline.cross_region_support:
            acknowledge(
                pipeline.role,
                "AwsSolutions-IAM5[Resource::*]",
                "The replication buckets in other regions are encrypted with keys the pipeline knows only by "
                "alias, so CDK grants their use on Resource '*'; the key policies admit only this account.",
            )

    def _acknowledge_self_mutation(self, role: iam.IRole) -> None:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Self-mutation reads stack status (cloudformation:DescribeStacks) and lists buckets, which the "
            "CDK CLI does on Resource '*' before it deploys the pipeline's own stack.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.account}:role/*]",
            "Self-mutation assumes the CDK bootstrap roles of this account (deploy, file and image "
            "publishing), selected by their aws-cdk:bootstrap-role tag: any name, only with that tag.",
        )

    def _acknowledge_asset_publishing(self, role: IConstruct) -> None:
        publishing = (
            "One role publishes every file asset, from projects CDK Pipelines names as it creates them: "
            "CodeBuild logs, reports and builds of this account and region"
        )
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", f"{publishing} (codebuild:StartBuild).")
        for resource in (
            self._arn("logs", "log-group:/aws/codebuild/*"),
            self._arn("codebuild", "report-group/*"),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{resource}]", f"{publishing}.")

    def _acknowledge_permissions_check(self, check: IConstruct) -> None:
        diff = cast(codebuild.Project, check.node.find_child("CDKSecurityCheck"))
        self._acknowledge_build_logs(diff)
        acknowledge(
            diff.role,
            "AwsSolutions-IAM5[Resource::*]",
            "The one permissions check of every stage runs cdk diff as the CDK deploy role of the stage's "
            "account and region: any role tagged aws-cdk:bootstrap-role=deploy (the condition on the grant).",
        )
        acknowledge(
            diff.role,
            f"AwsSolutions-IAM5[Resource::{self._arn('kms', 'key/*')}]",
            "The permissions check publishes to the approval topic, encrypted with the AWS-managed SNS key, "
            "which CDK names as any key of this account and region with the alias aws/sns (the condition).",
        )
        approve = cast(lambda_.Function, check.node.find_child("CDKPipelinesAutoApprove"))
        acknowledge(
            diff.role,
            f"AwsSolutions-IAM5[Resource::{self._ref(approve, 'Arn')}:*]",
            "The permissions check invokes its approval function, any version of it, when nothing broadens.",
        )
        # CDK Pipelines makes the function with a role of its own.
        assert approve.role is not None
        acknowledge(
            approve.role,
            "AwsSolutions-IAM5[Resource::*]",
            "The approval function approves only pipelines tagged SECURITY_CHECK=ALLOW_APPROVE (the "
            "condition on the grant): this one.",
        )
        acknowledge(
            approve.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK Pipelines gives its approval function the AWS-managed basic execution policy: it writes "
            "only the function's own logs.",
        )
