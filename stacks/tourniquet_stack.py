"""The Tourniquet stack: the incident-response workflow, its functions, the audit table and the Slack edge."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.bundling import RUNTIME, function_code
from stacks.config import PROJECT_ROOT, TourniquetConfig

STACK_NAME = "Tourniquet"
ASL_PATH = PROJECT_ROOT / "statemachines" / "incident_response.asl.json"
ESCALATION_TOPIC_PLACEHOLDER = "EscalationTopicArn"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
SLACK_INTERACTIONS_PATH = "/slack/interactions"

# Write actions that AWS authorizes only on Resource "*" (the APIs have no resource-level permissions).
# Any other write action granted on "*" is a mistake; the infrastructure tests hold every policy to this list.
RESOURCE_STAR_WRITE_ACTIONS = frozenset(
    {
        # X-Ray tracing of the functions and the state machine.
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        # Step Functions log delivery to CloudWatch Logs (vended logs).
        "logs:CreateLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:PutResourcePolicy",
    }
)

# Containment changes security-group rules only on the groups it created, which it tags at creation.
MANAGED_GROUP_TAG = "tourniquet:managed"
SECURITY_GROUP_RULE_ACTIONS = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
)
# The EC2 calls containment makes: reversible isolation and evidence first, stopping only after an approval.
CONTAINMENT_ACTIONS = (
    "ec2:CreateTags",
    "ec2:ModifyInstanceAttribute",
    "ec2:CreateSnapshot",
    "ec2:CreateSnapshots",
    "ec2:CreateSecurityGroup",
    *SECURITY_GROUP_RULE_ACTIONS,
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:StopInstances",
)
# Creating the empty quarantine group changes nothing that exists, so a protected VPC does not block it.
PROTECTED_DENIED_ACTIONS = tuple(
    action for action in CONTAINMENT_ACTIONS if action != "ec2:CreateSecurityGroup"
)
PROTECTED_RESOURCE_TYPES = ("instance", "volume", "network-interface", "security-group")

# Table access. No role gets DeleteItem or BatchWriteItem: the timeline is append-only; TTL expires the rest.
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
TABLE_APPEND = ("dynamodb:PutItem",)


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the shared asset."""

    construct_id: str
    handler: str
    description: str
    environment: tuple[str, ...]
    timeout_seconds: int = 10
    memory_mb: int = 256
    # The ASL placeholder that receives this function's ARN; None for functions the workflow does not call.
    placeholder: str | None = None


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "Normalize",
        "tourniquet.intake.handler.normalize",
        "Turns a raw alert into the normalized alert model, or explains why it is ignored.",
        environment=(),
        placeholder="NormalizeFunctionArn",
    ),
    FunctionSpec(
        "Deduplicate",
        "tourniquet.incidents.handler.deduplicate",
        "Opens an incident or folds the alert into an open one.",
        environment=("TABLE_NAME", "DEDUP_WINDOW_SECONDS"),
        placeholder="DeduplicateFunctionArn",
    ),
    FunctionSpec(
        "Diagnose",
        "tourniquet.diagnostics.handler.diagnose",
        "Read-only diagnostics of the affected resource.",
        environment=("TABLE_NAME", "PROTECTED_TAG_KEY"),
        timeout_seconds=15,
        placeholder="DiagnoseFunctionArn",
    ),
    FunctionSpec(
        "Plan",
        "tourniquet.playbooks.handler.plan",
        "Chooses the playbook: automatic steps and steps that wait for approval.",
        environment=("APPROVAL_TIMEOUT_SECONDS", "DRY_RUN", "PROTECTED_TAG_KEY"),
        placeholder="PlanFunctionArn",
    ),
    FunctionSpec(
        "Contain",
        "tourniquet.containment.handler.contain",
        "Runs one containment action: record the before-state, act, verify.",
        environment=("TABLE_NAME", "PROTECTED_TAG_KEY", "DRY_RUN"),
        timeout_seconds=60,
        placeholder="ContainFunctionArn",
    ),
    FunctionSpec(
        "RequestApproval",
        "tourniquet.approval.handler.request_approval",
        "Posts the Slack approval card and keeps the task token server-side.",
        environment=(
            "TABLE_NAME",
            "SLACK_SECRET_ARN",
            "SLACK_CHANNEL",
            "ESCALATION_TOPIC_ARN",
        ),
        timeout_seconds=15,
        placeholder="RequestApprovalFunctionArn",
    ),
    FunctionSpec(
        "SlackInteraction",
        "tourniquet.approval.handler.slack_interaction",
        "Verifies a Slack button click and answers the waiting task exactly once.",
        environment=("TABLE_NAME", "SLACK_SECRET_ARN", "APPROVERS"),
        # Slack wants an answer within 3 s; more memory buys a faster cold start.
        memory_mb=512,
    ),
    FunctionSpec(
        "Record",
        "tourniquet.incidents.handler.record",
        "Records ignored events, outcomes and failures on the incident.",
        environment=("TABLE_NAME",),
        timeout_seconds=15,
        placeholder="RecordFunctionArn",
    ),
    FunctionSpec(
        "Notify",
        "tourniquet.notify.handler.notify",
        "Posts duplicates, outcomes and failures to Slack.",
        environment=("TABLE_NAME", "SLACK_SECRET_ARN", "SLACK_CHANNEL", "ESCALATION_TOPIC_ARN"),
        timeout_seconds=15,
        placeholder="NotifyFunctionArn",
    ),
)


def asl_placeholders(definition: str) -> set[str]:
    """The ``${Name}`` placeholders of an ASL definition."""
    return set(re.findall(r"\$\{(\w+)\}", definition))


class TourniquetStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: TourniquetConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope, construct_id, description="Tourniquet: AWS security incident response", **kwargs
        )
        self.config = config
        # The product never contains itself: everything it deploys carries the protected tag.
        Tags.of(self).add(config.protected_tag_key, "true")

        self.table = self._table()
        self.slack_secret = self._slack_secret()
        self.escalation_topic = self._escalation_topic()

        code = function_code()
        environment = self._environment()
        self.functions = {spec.construct_id: self._function(spec, code, environment) for spec in FUNCTIONS}
        self._grant_functions()

        self.state_machine = self._state_machine()
        self._grant_task_response(self.functions["SlackInteraction"])
        self._guardduty_rule()
        interactions_url = self._slack_api(self.functions["SlackInteraction"])

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "SlackInteractionsUrl", value=interactions_url)
        CfnOutput(self, "EscalationTopicArn", value=self.escalation_topic.topic_arn)
        CfnOutput(self, "SlackSecretArn", value=self.slack_secret.secret_arn)

    # --- storage and secrets -------------------------------------------------------------------------------

    def _table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=self.config.table_deletion_protection,
            # The audit trail outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _slack_secret(self) -> secretsmanager.Secret:
        # The generated signing secret matches no real Slack request, so the approval path fails closed until
        # an operator stores the app's real credentials.
        return secretsmanager.Secret(
            self,
            "SlackSecret",
            description="Tourniquet Slack app credentials: JSON with bot_token and signing_secret.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"bot_token": "xoxb-replace-me"}),
                generate_string_key="signing_secret",
                exclude_punctuation=True,
                password_length=40,
            ),
        )

    def _escalation_topic(self) -> sns.ITopic:
        if self.config.escalation_topic_arn is not None:
            return sns.Topic.from_topic_arn(self, "EscalationTopic", self.config.escalation_topic_arn)
        return sns.Topic(
            self,
            "EscalationTopic",
            display_name="Tourniquet escalations",
            master_key=kms.Alias.from_alias_name(self, "SnsManagedKey", "alias/aws/sns"),
            enforce_ssl=True,
        )

    # --- functions -----------------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """Every environment value a function may get; each function receives only the names it lists."""
        config = self.config
        return {
            "TABLE_NAME": self.table.table_name,
            "DEDUP_WINDOW_SECONDS": str(config.dedup_window_seconds),
            "APPROVAL_TIMEOUT_SECONDS": str(config.approval_timeout_seconds),
            "SLACK_SECRET_ARN": self.slack_secret.secret_arn,
            "SLACK_CHANNEL": config.slack_channel,
            "APPROVERS": ",".join(config.approvers),
            "ESCALATION_TOPIC_ARN": self.escalation_topic.topic_arn,
            "PROTECTED_TAG_KEY": config.protected_tag_key,
            "DRY_RUN": "true" if config.dry_run else "false",
        }

    def _function(
        self, spec: FunctionSpec, code: lambda_.Code, environment: dict[str, str]
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{spec.construct_id}Logs", retention=LOG_RETENTION)
        # One role per function, without the basic execution managed policy: it may write only its own logs.
        role = iam.Role(
            self,
            f"{spec.construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Tourniquet {spec.handler}",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            spec.construct_id,
            code=code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            description=spec.description,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": "tourniquet",
                **{name: environment[name] for name in spec.environment},
            },
        )

    def _grant_functions(self) -> None:
        fn = self.functions
        self._grant_table(fn["Deduplicate"], TABLE_READ + TABLE_WRITE)
        self._grant_diagnostics(fn["Diagnose"])
        self._grant_table(fn["Diagnose"], TABLE_APPEND)
        self._grant_containment(fn["Contain"])
        self._grant_table(fn["Contain"], TABLE_READ + TABLE_WRITE)
        for name in ("RequestApproval", "SlackInteraction", "Notify"):
            self._grant_table(fn[name], TABLE_READ + TABLE_WRITE)
            self._grant_secret_read(fn[name])
        for name in ("RequestApproval", "Notify"):
            self._grant_publish(fn[name])
        self._grant_table(fn["Record"], TABLE_READ + TABLE_WRITE)

    def _grant_table(self, fn: lambda_.Function, actions: tuple[str, ...]) -> None:
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=[self.table.table_arn]))

    def _grant_publish(self, grantee: iam.IGrantable) -> None:
        # No KMS grant is needed: the AWS-managed SNS key admits every principal of the account via SNS.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.escalation_topic.topic_arn])
        )

    def _grant_secret_read(self, fn: lambda_.Function) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[self.slack_secret.secret_arn]
            )
        )

    def _grant_diagnostics(self, fn: lambda_.Function) -> None:
        # Resource "*": EC2 Describe calls and CloudTrail LookupEvents have no resource-level permissions.
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["ec2:Describe*", "cloudtrail:LookupEvents"], resources=["*"])
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:GetInstanceProfile"],
                resources=[
                    self.format_arn(service="iam", region="", resource="instance-profile", resource_name="*")
                ],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"],
                resources=[self.format_arn(service="iam", region="", resource="role", resource_name="*")],
            )
        )

    def _grant_containment(self, fn: lambda_.Function) -> None:
        # Resource "*": EC2 Describe calls have no resource-level permissions.
        fn.add_to_role_policy(iam.PolicyStatement(actions=["ec2:Describe*"], resources=["*"]))
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[a for a in CONTAINMENT_ACTIONS if a not in SECURITY_GROUP_RULE_ACTIONS],
                resources=[
                    # EC2 resources of this account and region (instances, volumes, ENIs, groups, VPCs) ...
                    self.format_arn(service="ec2", resource="*"),
                    # ... and new snapshots, whose ARNs carry no account.
                    self.format_arn(service="ec2", account="", resource="snapshot", resource_name="*"),
                ],
            )
        )
        # Opening or closing rules is allowed only on the groups containment created: a role that may open
        # all traffic must not be able to do so on a production group.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(SECURITY_GROUP_RULE_ACTIONS),
                resources=[self.format_arn(service="ec2", resource="security-group", resource_name="*")],
                conditions={"StringEquals": {f"aws:ResourceTag/{MANAGED_GROUP_TAG}": "true"}},
            )
        )
        # The rules themselves are resources too; they carry no tags, and the statement above picks the group.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(SECURITY_GROUP_RULE_ACTIONS),
                resources=[self.format_arn(service="ec2", resource="security-group-rule", resource_name="*")],
            )
        )
        # A backstop behind the handler's own check: whatever carries the protected tag is never touched.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=list(PROTECTED_DENIED_ACTIONS),
                resources=[
                    self.format_arn(service="ec2", resource=kind, resource_name="*")
                    for kind in PROTECTED_RESOURCE_TYPES
                ],
                conditions={"Null": {f"aws:ResourceTag/{self.config.protected_tag_key}": "false"}},
            )
        )

    # --- workflow ------------------------------------------------------------------------------------------

    def _state_machine(self) -> sfn.StateMachine:
        definition = ASL_PATH.read_text()
        substitutions = {
            spec.placeholder: self.functions[spec.construct_id].function_arn
            for spec in FUNCTIONS
            if spec.placeholder is not None
        }
        substitutions[ESCALATION_TOPIC_PLACEHOLDER] = self.escalation_topic.topic_arn
        missing = asl_placeholders(definition) - substitutions.keys()
        if missing:
            raise ValueError(f"{ASL_PATH.name}: no value for placeholder(s) {', '.join(sorted(missing))}")

        log_group = logs.LogGroup(self, "StateMachineLogs", retention=LOG_RETENTION)
        state_machine = sfn.StateMachine(
            self,
            "IncidentResponse",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            # Execution data stays out of the logs: states carry task tokens, principals and alert details.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # The definition is a string, so CDK cannot infer these grants: exactly the functions it invokes.
        for spec in FUNCTIONS:
            if spec.placeholder is not None:
                self.functions[spec.construct_id].grant_invoke(state_machine)
        self._grant_publish(state_machine)
        return state_machine

    def _grant_task_response(self, fn: lambda_.Function) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[self.state_machine.state_machine_arn],
            )
        )

    def _guardduty_rule(self) -> None:
        dead_letters = sqs.Queue(
            self,
            "GuardDutyDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        events.Rule(
            self,
            "GuardDutyFindings",
            description="GuardDuty findings at or above the configured severity start the incident response.",
            event_pattern=events.EventPattern(
                source=["aws.guardduty"],
                detail_type=["GuardDuty Finding"],
                detail={"severity": events.Match.greater_than_or_equal(self.config.guardduty_min_severity)},
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    dead_letter_queue=dead_letters,
                    retry_attempts=185,
                    max_event_age=Duration.hours(24),
                )
            ],
        )

    # --- Slack edge ----------------------------------------------------------------------------------------

    def _slack_api(self, fn: lambda_.Function) -> str:
        api = apigwv2.HttpApi(
            self,
            "SlackApi",
            description="Tourniquet Slack interactivity endpoint",
            create_default_stage=False,
        )
        stage = apigwv2.HttpStage(
            self,
            "SlackApiStage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            # Button clicks come a few at a time; a flood is refused before it reaches the function.
            throttle=apigwv2.ThrottleSettings(rate_limit=10, burst_limit=20),
        )
        api.add_routes(
            path=SLACK_INTERACTIONS_PATH,
            methods=[apigwv2.HttpMethod.POST],
            integration=integrations.HttpLambdaIntegration("SlackInteractionsIntegration", fn),
        )
        # The $default stage URL ends with "/".
        return f"{stage.url}{SLACK_INTERACTIONS_PATH.lstrip('/')}"
