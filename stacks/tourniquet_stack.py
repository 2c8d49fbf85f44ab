"""The Tourniquet stack: triggers, the incident-response and release workflows and their functions, the audit
table, the HTTP edge (Slack interactions and alert webhooks) and the alarms that watch all of it.

Every exception to the cdk-nag AwsSolutions rules is acknowledged on the one construct it concerns, with the
reason next to the code that needs it (:func:`stacks.nag.acknowledge`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    SecretValue,
    Stack,
    Tags,
)
from aws_cdk import aws_apigateway as apigateway
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

from stacks.asl import approval_expiry_state, placeholders
from stacks.bundling import RUNTIME, function_code
from stacks.config import PROJECT_ROOT, TourniquetConfig, labels_at_or_above
from stacks.containment import grant_containment, grant_release
from stacks.monitoring import ExpiryState, Monitoring
from stacks.nag import acknowledge

STACK_NAME = "Tourniquet"
ASL_PATH = PROJECT_ROOT / "statemachines" / "incident_response.asl.json"
RELEASE_ASL_PATH = PROJECT_ROOT / "statemachines" / "release_incident.asl.json"
ESCALATION_TOPIC_PLACEHOLDER = "EscalationTopicArn"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
SLACK_INTERACTIONS_PATH = "/slack/interactions"
# Grafana and Alertmanager post to /webhook/grafana and /webhook/alertmanager; the function checks the name.
WEBHOOK_PREFIX = "/webhook/"
WEBHOOK_PATH = f"{WEBHOOK_PREFIX}{{source}}"

# The table. The GSI lists incidents of one alert type by when they were first seen; the deduplicate step
# writes both attributes on incident items only, so the index holds nothing else.
TTL_ATTRIBUTE = "expires_at"
INCIDENTS_BY_TYPE_INDEX = "by-type"
INDEX_PARTITION_KEY = "gsi1pk"  # "TYPE#<alert type>"
INDEX_SORT_KEY = "gsi1sk"  # "<first_seen, ISO 8601 UTC>"

# EventBridge delivery to the state machine: the most retries and the longest age EventBridge allows, then
# the dead-letter queue. An alert is never dropped silently.
EVENT_RETRY_ATTEMPTS = 185
EVENT_MAX_AGE = Duration.hours(24)
DEAD_LETTER_RETENTION = Duration.days(14)

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

# Table access. No role gets DeleteItem or BatchWriteItem: the timeline is append-only; TTL expires the rest.
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
TABLE_APPEND = ("dynamodb:PutItem",)
# The approval functions touch only approvals and the incidents they decide (their timeline and status).
APPROVAL_PARTITIONS = ("APPROVAL#*", "INCIDENT#*")
# DynamoDB uses the table's key on the caller's behalf; the grant holds only for requests made through it.
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
# SNS encrypts each published message with a data key of the topic's key.
TOPIC_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")

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

XRAY_REASON = "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support only Resource '*'."
RUNTIME_REASON = (
    "The runtime is pinned to python3.12 on purpose: stacks/bundling.py vendors cp312 manylinux wheels "
    "(pydantic-core) for exactly this runtime, and the runtime is supported by Lambda. Moving to a newer "
    "runtime is a deliberate change of RUNTIME and PYTHON_VERSION together."
)


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the shared asset."""

    construct_id: str
    handler: str
    description: str
    environment: tuple[str, ...]
    timeout_seconds: int = 10
    memory_mb: int = 256
    # The ASL placeholder that receives this function's ARN (in whichever workflow names it); None for the
    # functions behind the HTTP API.
    placeholder: str | None = None
    # A cap (and a guarantee) for functions a flood of alerts or requests would run without limit.
    reserved_concurrency: int | None = None


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "Normalize",
        "tourniquet.intake.handler.normalize",
        "Turns a raw alert into the normalized alert model, or explains why it is ignored.",
        environment=(),
        placeholder="NormalizeFunctionArn",
        reserved_concurrency=25,
    ),
    FunctionSpec(
        "Deduplicate",
        "tourniquet.incidents.handler.deduplicate",
        "Opens an incident or folds the alert into an open one.",
        environment=("TABLE_NAME", "DEDUP_WINDOW_SECONDS"),
        placeholder="DeduplicateFunctionArn",
        reserved_concurrency=25,
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
        environment=("APPROVAL_TIMEOUT_SECONDS", "DRY_RUN", "PROTECTED_TAG_KEY", "PROTECTED_PRINCIPALS"),
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
        "Release",
        "tourniquet.containment.handler.release",
        "Returns what an incident contained to its recorded before-state, verified; snapshots are kept.",
        environment=("TABLE_NAME", "PROTECTED_TAG_KEY"),
        # A stopped instance is started and waited for (up to three minutes) before it rejoins its fleet.
        timeout_seconds=280,
        placeholder="ReleaseFunctionArn",
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
            "TWO_PERSON_ACTIONS",
        ),
        timeout_seconds=15,
        placeholder="RequestApprovalFunctionArn",
    ),
    FunctionSpec(
        "SlackInteraction",
        "tourniquet.approval.handler.slack_interaction",
        "Verifies a Slack button click and answers the waiting task exactly once.",
        environment=(
            "TABLE_NAME",
            "SLACK_SECRET_ARN",
            "APPROVERS",
            "APPROVER_GROUPS",
            "SLACK_TEAM_ID",
            "SLACK_APP_ID",
            "RELEASE_STATE_MACHINE_ARN",
        ),
        # Slack wants an answer within 3 s; more memory buys a faster cold start.
        memory_mb=512,
        # Kept free for approvers while a flood of alerts runs the rest of the account's concurrency.
        reserved_concurrency=10,
    ),
    FunctionSpec(
        "Webhook",
        "tourniquet.intake.webhook.handle",
        "Authenticates a Grafana or Alertmanager webhook and starts the incident response.",
        environment=("TABLE_NAME", "WEBHOOK_SECRET_ARN", "STATE_MACHINE_ARN"),
        reserved_concurrency=10,
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
        "Posts duplicates, outcomes, releases and failures to Slack; offers the Release button.",
        environment=(
            "TABLE_NAME",
            "SLACK_SECRET_ARN",
            "SLACK_CHANNEL",
            "ESCALATION_TOPIC_ARN",
            "TWO_PERSON_ACTIONS",
            "RELEASE_OFFER_SECONDS",
        ),
        timeout_seconds=15,
        placeholder="NotifyFunctionArn",
    ),
)

# What the HTTP API's access log records: who called which route and how it went. Never headers or bodies,
# which carry the bearer token, signatures and alert contents.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
}


@dataclass(frozen=True)
class RouteThrottle:
    rate_per_second: int
    burst: int


# Slack clicks come a few at a time; monitoring systems send bursts when many alerts fire at once.
SLACK_THROTTLE = RouteThrottle(rate_per_second=10, burst=20)
WEBHOOK_THROTTLE = RouteThrottle(rate_per_second=25, burst=50)


# The API routes authenticate in the function: API Gateway authorizers cannot check either scheme.
_ROUTE_AUTHORIZATION = {
    SLACK_INTERACTIONS_PATH: (
        "Slack signs each request with the app's signing secret (HMAC-SHA256 over the raw body and a "
        "timestamp). The function verifies it on the raw body in constant time within a 300 s window and "
        "answers 401 otherwise; an authorizer never sees the raw body."
    ),
    WEBHOOK_PATH: (
        "Grafana and Alertmanager authenticate with a bearer token or an HMAC signature of the raw body, "
        "both kept in Secrets Manager. The function checks either in constant time and answers 401 "
        "otherwise; a Lambda authorizer never sees the raw body, so the HMAC cannot be checked there."
    ),
}


def role_of(fn: lambda_.Function) -> iam.IRole:
    """The function's own role (every function here is given one)."""
    if fn.role is None:
        raise ValueError(f"{fn.node.path} has no role")
    return fn.role


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


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

        self.table_key = self._key("TableKey", "Tourniquet: encrypts the incident and audit table")
        self.table = self._table()
        self.topic_key = self._topic_key()
        self.alarm_topic = self._alarm_topic()
        self.escalation_topic = self._escalation_topic()
        self.slack_secret = self._slack_secret()
        self.webhook_secret = self._webhook_secret()

        code = function_code()
        environment = self._environment()
        self.functions: dict[str, lambda_.Function] = {}
        for spec in FUNCTIONS:
            if spec.placeholder is not None:
                self.functions[spec.construct_id] = self._function(spec, code, environment)

        definition = ASL_PATH.read_text()
        self.state_machine_logs = logs.LogGroup(self, "StateMachineLogs", retention=LOG_RETENTION)
        self.state_machine = self._state_machine("IncidentResponse", ASL_PATH, self.state_machine_logs)
        self.release_machine = self._state_machine(
            "ReleaseIncident",
            RELEASE_ASL_PATH,
            logs.LogGroup(self, "ReleaseMachineLogs", retention=LOG_RETENTION),
        )

        # The HTTP edge functions start or answer executions, so they follow the state machines.
        environment["STATE_MACHINE_ARN"] = self.state_machine.state_machine_arn
        environment["RELEASE_STATE_MACHINE_ARN"] = self.release_machine.state_machine_arn
        for spec in FUNCTIONS:
            if spec.placeholder is None:
                self.functions[spec.construct_id] = self._function(spec, code, environment)
        self._grant_functions()

        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self._guardduty_rule()
        if config.securityhub_product_names:
            self._securityhub_rule()
        if config.cloudwatch_alarm_prefixes:
            self._cloudwatch_alarm_rule()

        api_url = self._api()

        expiry_name, expiry_type = approval_expiry_state(definition)
        Monitoring(
            self,
            "Alarms",
            topic=self.alarm_topic,
            state_machine=self.state_machine,
            release_machine=self.release_machine,
            state_machine_logs=self.state_machine_logs,
            expiry_state=ExpiryState(expiry_name, expiry_type),
            functions=self.functions,
            throttled_functions={
                spec.construct_id: self.functions[spec.construct_id]
                for spec in FUNCTIONS
                if spec.reserved_concurrency is not None
            },
            dead_letter_queues=self.dead_letter_queues,
        )

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "ReleaseStateMachineArn", value=self.release_machine.state_machine_arn)
        CfnOutput(self, "SlackInteractionsUrl", value=f"{api_url}{SLACK_INTERACTIONS_PATH.lstrip('/')}")
        CfnOutput(self, "WebhookUrl", value=f"{api_url}{WEBHOOK_PREFIX.lstrip('/')}")
        CfnOutput(self, "EscalationTopicArn", value=self.escalation_topic.topic_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        CfnOutput(self, "SlackSecretArn", value=self.slack_secret.secret_arn)
        CfnOutput(self, "WebhookSecretArn", value=self.webhook_secret.secret_arn)

    # --- keys, storage, topics and secrets -----------------------------------------------------------------

    def _key(self, construct_id: str, description: str) -> kms.Key:
        return kms.Key(
            self,
            construct_id,
            description=description,
            enable_key_rotation=True,
            # Whatever the key encrypted (the audit trail) outlives the stack, so the key does too.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.table_key,
            deletion_protection=self.config.table_deletion_protection,
            # The audit trail outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(
            index_name=INCIDENTS_BY_TYPE_INDEX,
            partition_key=dynamodb.Attribute(name=INDEX_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        return table

    def _topic_key(self) -> kms.Key:
        key = self._key("TopicKey", "Tourniquet: encrypts the alarm and escalation topics")
        # CloudWatch alarms publish to the alarm topic as the CloudWatch service, which the AWS-managed SNS
        # key does not admit; this customer-managed key does (with the actions the SNS guide names).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        return key

    def _alarm_topic(self) -> sns.Topic:
        topic = sns.Topic(
            self, "AlarmTopic", display_name="Tourniquet alarms", master_key=self.topic_key, enforce_ssl=True
        )
        # Only alarms of this account may publish as the CloudWatch service (no confused deputy).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        return topic

    def _escalation_topic(self) -> sns.ITopic:
        if self.config.escalation_topic_arn is not None:
            return sns.Topic.from_topic_arn(self, "EscalationTopic", self.config.escalation_topic_arn)
        return sns.Topic(
            self,
            "EscalationTopic",
            display_name="Tourniquet escalations",
            master_key=self.topic_key,
            enforce_ssl=True,
        )

    def _slack_secret(self) -> secretsmanager.Secret:
        # The generated signing secret matches no real Slack request, so the approval path fails closed until
        # an operator stores the app's real credentials.
        secret = secretsmanager.Secret(
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
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Slack issues the bot token and the signing secret; Secrets Manager cannot rotate them. "
            "docs/deploy.md has the manual rotation (regenerate in Slack, put-secret-value).",
        )
        return secret

    def _webhook_secret(self) -> secretsmanager.Secret:
        # CloudFormation generates one random value per secret, and the webhook secret holds two. The bearer
        # token is generated in a seed secret and copied in through a dynamic reference, which CloudFormation
        # resolves at deploy time: no value is ever in the template. Nothing else reads the seed.
        seed = secretsmanager.Secret(
            self,
            "WebhookTokenSeed",
            description="Tourniquet: the webhook bearer token generated at the first deploy. Read only by "
            "CloudFormation when it creates WebhookSecret; the functions read WebhookSecret.",
            # Letters and digits only: the value is spliced into WebhookSecret's JSON as it is.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        bearer_token = SecretValue.secrets_manager(seed.secret_arn).unsafe_unwrap()
        secret = secretsmanager.Secret(
            self,
            "WebhookSecret",
            description="Tourniquet webhook credentials: JSON with bearer_token and hmac_secret.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=self.to_json_string({"bearer_token": bearer_token}),
                generate_string_key="hmac_secret",
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        reason = (
            "The webhook credentials are also configured in Grafana and Alertmanager, which a rotation "
            "function cannot update; docs/deploy.md has the manual rotation."
        )
        acknowledge(seed, "AwsSolutions-SMG4", reason)
        acknowledge(secret, "AwsSolutions-SMG4", reason)
        return secret

    # --- functions -----------------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str | None]:
        """Every environment value a function may get; each function receives only the names it lists,
        and none that the config leaves unset (None)."""
        config = self.config
        return {
            "TABLE_NAME": self.table.table_name,
            "DEDUP_WINDOW_SECONDS": str(config.dedup_window_seconds),
            "APPROVAL_TIMEOUT_SECONDS": str(config.approval_timeout_seconds),
            "SLACK_SECRET_ARN": self.slack_secret.secret_arn,
            "WEBHOOK_SECRET_ARN": self.webhook_secret.secret_arn,
            "SLACK_CHANNEL": config.slack_channel,
            "APPROVERS": ",".join(config.approvers),
            "APPROVER_GROUPS": ",".join(config.approver_groups),
            "TWO_PERSON_ACTIONS": ",".join(config.two_person_actions),
            "SLACK_TEAM_ID": config.slack_team_id,
            "SLACK_APP_ID": config.slack_app_id,
            "ESCALATION_TOPIC_ARN": self.escalation_topic.topic_arn,
            "PROTECTED_TAG_KEY": config.protected_tag_key,
            "PROTECTED_PRINCIPALS": ",".join(config.protected_principals),
            "DRY_RUN": "true" if config.dry_run else "false",
            "RELEASE_OFFER_SECONDS": str(config.release_offer_days * 24 * 3600),
            # Set once the release workflow exists (see __init__).
            "RELEASE_STATE_MACHINE_ARN": None,
        }

    def _function(
        self, spec: FunctionSpec, code: lambda_.Code, environment: dict[str, str | None]
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
        fn = lambda_.Function(
            self,
            spec.construct_id,
            code=code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            description=spec.description,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            reserved_concurrent_executions=spec.reserved_concurrency,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": "tourniquet",
                **{name: value for name in spec.environment if (value := environment[name]) is not None},
            },
        )
        acknowledge(fn, "AwsSolutions-L1", RUNTIME_REASON)
        return fn

    def _grant_functions(self) -> None:
        fn = self.functions
        self._grant_table(fn["Deduplicate"], TABLE_READ + TABLE_WRITE)
        self._grant_diagnostics(fn["Diagnose"])
        self._grant_table(fn["Diagnose"], TABLE_APPEND)
        grant_containment(self, fn["Contain"], self.config.protected_tag_key)
        grant_release(self, fn["Release"], self.config.protected_tag_key)
        for name in ("Contain", "Release"):
            self._grant_table(fn[name], TABLE_READ + TABLE_WRITE)
        for name in ("RequestApproval", "SlackInteraction"):
            self._grant_table(fn[name], TABLE_READ + TABLE_WRITE, partitions=APPROVAL_PARTITIONS)
        self._grant_table(fn["Notify"], TABLE_READ + TABLE_WRITE)
        for name in ("RequestApproval", "SlackInteraction", "Notify"):
            self._grant_secret_read(fn[name], self.slack_secret)
        for name in ("RequestApproval", "Notify"):
            self._grant_publish(fn[name])
        self._grant_table(fn["Record"], TABLE_READ + TABLE_WRITE)
        self._grant_task_response(fn["SlackInteraction"])
        self.release_machine.grant_start_execution(fn["SlackInteraction"])
        self._grant_secret_read(fn["Webhook"], self.webhook_secret)
        self.state_machine.grant_start_execution(fn["Webhook"])

        extra_reasons = {
            "Diagnose": " The EC2 Describe, CloudTrail LookupEvents, CloudWatch GetMetricData and Health "
            "DescribeEvents reads support only Resource '*'.",
            "Contain": " The EC2, Auto Scaling and Elastic Load Balancing Describe calls (read-only) support "
            "only Resource '*'.",
            "Release": " The EC2, Auto Scaling and Elastic Load Balancing Describe calls (read-only) support "
            "only Resource '*'.",
        }
        for name, function in fn.items():
            acknowledge(
                role_of(function),
                "AwsSolutions-IAM5[Resource::*]",
                XRAY_REASON + extra_reasons.get(name, ""),
            )

    def _grant_table(
        self, fn: lambda_.Function, actions: tuple[str, ...], *, partitions: tuple[str, ...] | None = None
    ) -> None:
        conditions = (
            None
            if partitions is None
            else {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}}
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(actions), resources=[self.table.table_arn], conditions=conditions
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(TABLE_KEY_ACTIONS),
                resources=[self.table_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"}},
            )
        )

    def _grant_publish(self, grantee: iam.IGrantable) -> None:
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.escalation_topic.topic_arn])
        )
        # A topic given in the config brings its own key policy (docs/deploy.md); the stack's own topic
        # is encrypted with the topic key.
        if self.config.escalation_topic_arn is None:
            principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(TOPIC_KEY_ACTIONS),
                    resources=[self.topic_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}},
                )
            )

    def _grant_secret_read(self, fn: lambda_.Function, secret: secretsmanager.ISecret) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
        )

    def _grant_task_response(self, fn: lambda_.Function) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[self.state_machine.state_machine_arn],
            )
        )

    def _grant_diagnostics(self, fn: lambda_.Function) -> None:
        # Resource "*": these reads have no resource-level permissions.
        fn.add_to_role_policy(iam.PolicyStatement(actions=list(DIAGNOSTIC_READS), resources=["*"]))
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(DIAGNOSTIC_IAM_READS),
                resources=[
                    self.format_arn(service="iam", region="", resource=kind, resource_name="*")
                    for kind in ("user", "role", "instance-profile")
                ],
            )
        )
        role = role_of(fn)
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

    # --- workflow ------------------------------------------------------------------------------------------

    def _state_machine(self, construct_id: str, path: Path, log_group: logs.ILogGroup) -> sfn.StateMachine:
        """A Standard workflow from its ASL file, invoking exactly the functions its placeholders name."""
        definition = path.read_text()
        named = placeholders(definition)
        invoked = [
            self.functions[spec.construct_id]
            for spec in FUNCTIONS
            if spec.placeholder is not None and spec.placeholder in named
        ]
        substitutions = {
            spec.placeholder: self.functions[spec.construct_id].function_arn
            for spec in FUNCTIONS
            if spec.placeholder is not None and spec.placeholder in named
        }
        if ESCALATION_TOPIC_PLACEHOLDER in named:
            substitutions[ESCALATION_TOPIC_PLACEHOLDER] = self.escalation_topic.topic_arn
        missing = named - substitutions.keys()
        if missing:
            raise ValueError(f"{path.name}: no value for placeholder(s) {', '.join(sorted(missing))}")

        state_machine = sfn.StateMachine(
            self,
            construct_id,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            # Execution data stays out of the logs: states carry task tokens, principals and alert details.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # The definition is a string, so CDK cannot infer these grants: exactly the functions it invokes, by
        # the unqualified ARNs the definition names (no version or alias wildcard).
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[fn.function_arn for fn in invoked]
            )
        )
        if ESCALATION_TOPIC_PLACEHOLDER in named:
            self._grant_publish(state_machine)
        acknowledge(
            state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            XRAY_REASON + " Step Functions log delivery (logs:CreateLogDelivery, logs:PutResourcePolicy and "
            "the related reads) supports only Resource '*' as well.",
        )
        return state_machine

    # --- triggers ------------------------------------------------------------------------------------------

    def _rule(self, construct_id: str, description: str, pattern: events.EventPattern) -> None:
        """A rule that starts the workflow with the event, retrying for a day before the dead-letter queue."""
        dead_letters = sqs.Queue(
            self,
            f"{construct_id}DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        acknowledge(
            dead_letters,
            "AwsSolutions-SQS3",
            f"This queue is the dead-letter queue of the {construct_id} rule's target (EventBridge "
            "DeadLetterConfig), which cdk-nag does not recognize; a queue of last resort has no DLQ itself.",
        )
        self.dead_letter_queues[f"{construct_id}DeadLetters"] = dead_letters
        events.Rule(
            self,
            construct_id,
            description=description,
            event_pattern=pattern,
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    dead_letter_queue=dead_letters,
                    retry_attempts=EVENT_RETRY_ATTEMPTS,
                    max_event_age=EVENT_MAX_AGE,
                )
            ],
        )

    def _guardduty_rule(self) -> None:
        self._rule(
            "GuardDutyFindings",
            "GuardDuty findings at or above the configured severity start the incident response.",
            events.EventPattern(
                source=["aws.guardduty"],
                detail_type=["GuardDuty Finding"],
                detail={"severity": events.Match.greater_than_or_equal(self.config.guardduty_min_severity)},
            ),
        )

    def _securityhub_rule(self) -> None:
        config = self.config
        self._rule(
            "SecurityHubFindings",
            "Active, new Security Hub findings of the configured products and severities start the "
            "incident response.",
            events.EventPattern(
                source=["aws.securityhub"],
                detail_type=["Security Hub Findings - Imported"],
                detail={
                    "findings": {
                        "ProductName": list(config.securityhub_product_names),
                        "Severity": {"Label": labels_at_or_above(config.securityhub_min_severity)},
                        "RecordState": ["ACTIVE"],
                        # Resolved and suppressed findings are someone's decision already.
                        "Workflow": {"Status": ["NEW", "NOTIFIED"]},
                    }
                },
            ),
        )

    def _cloudwatch_alarm_rule(self) -> None:
        self._rule(
            "CloudWatchAlarms",
            "Alarms named with a configured prefix open an incident in ALARM and resolve it back in OK.",
            events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={
                    "alarmName": events.Match.any_of(
                        *(events.Match.prefix(prefix) for prefix in self.config.cloudwatch_alarm_prefixes)
                    ),
                    # ALARM opens an incident; OK resolves the one it opened. INSUFFICIENT_DATA says nothing.
                    "state": {"value": ["ALARM", "OK"]},
                },
            ),
        )

    # --- HTTP edge -----------------------------------------------------------------------------------------

    def _api(self) -> str:
        """The HTTP API: Slack interactions and alert webhooks. Returns the stage URL (ending in "/")."""
        api = apigwv2.HttpApi(
            self,
            "Api",
            description="Tourniquet: Slack interactivity and alert webhooks",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=LOG_RETENTION)
        stage = apigwv2.HttpStage(
            self,
            "ApiStage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(access_logs),
            # Anything not throttled by a route below is held to the stricter limit.
            throttle=apigwv2.ThrottleSettings(
                rate_limit=SLACK_THROTTLE.rate_per_second, burst_limit=SLACK_THROTTLE.burst
            ),
        )
        routes = {
            SLACK_INTERACTIONS_PATH: ("SlackInteraction", SLACK_THROTTLE),
            WEBHOOK_PATH: ("Webhook", WEBHOOK_THROTTLE),
        }
        route_settings = {}
        for path, (name, throttle) in routes.items():
            (route,) = api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.POST],
                integration=integrations.HttpLambdaIntegration(f"{name}Integration", self.functions[name]),
            )
            route_settings[f"POST {path}"] = {
                "ThrottlingRateLimit": throttle.rate_per_second,
                "ThrottlingBurstLimit": throttle.burst,
            }
            acknowledge(route, "AwsSolutions-APIG4", _ROUTE_AUTHORIZATION[path])
            # The stage's route settings name the route, which must exist first.
            stage.node.add_dependency(route)
        cfn_stage = stage.node.default_child
        if not isinstance(cfn_stage, apigwv2.CfnStage):
            raise TypeError(f"{stage.node.path}: unexpected default child {cfn_stage!r}")
        # The L2 stage throttles only its default route; each route gets its own limits here.
        cfn_stage.add_property_override("RouteSettings", route_settings)
        return stage.url
