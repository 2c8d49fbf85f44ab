"""The Lambda functions: one asset, one role and one log group per function, and what each role may do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.bundling import DEPLOYED_PLAYBOOKS, RUNTIME, function_code
from stacks.config import TourniquetConfig
from stacks.credentials import Credentials, grant_secret_value
from stacks.feed import SiemFeed
from stacks.nag import XRAY_REASON, acknowledge
from stacks.names import ASSUME_ACTIONS, Purpose, hub_role_name
from stacks.storage import TABLE_READ, TABLE_WRITE, AuditStorage
from stacks.topics import Topics


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
    # A cap (and a guarantee) for functions a flood of alerts or requests would run without limit, applied
    # when the config's reserved_concurrency is on. Their throttle alarms watch them either way.
    reserved_concurrency: int | None = None
    # The member role this function assumes in a target's account (MEMBER_ROLE_NAME), if it acts there.
    member_role: Purpose | None = None


# Where Tourniquet acts (tourniquet.scope), for the functions that decide or act there, and how recent a
# protection must be to be suspicious (read by Diagnose and Plan).
SCOPE_ENVIRONMENT = (
    "SCOPE_ACCOUNTS",
    "SCOPE_OUS",
    "EXCLUDED_ACCOUNTS",
    "SCOPE_REGIONS",
    "PROTECTION_WINDOW_HOURS",
)
# How a function that acts in a target's account gets there (tourniquet.aws.acting_in).
MEMBER_ENVIRONMENT = ("MEMBER_ROLE_NAME", "EXTERNAL_ID")
# Where the functions that announce an incident's changes send them (tourniquet.feed).
FEED_ENVIRONMENT = ("SIEM_QUEUE_URL", "SIEM_FORMAT")
# The functions that announce changes, and those of them that set the finding's status in Security Hub.
ANNOUNCERS = ("Triage", "Record", "Release")
SECURITY_HUB_WRITERS = ("Triage", "Record")

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
        environment=("TABLE_NAME", "DEDUP_WINDOW_SECONDS", "RETENTION_DAYS", "PLAYBOOKS_FILE"),
        placeholder="DeduplicateFunctionArn",
        reserved_concurrency=25,
    ),
    FunctionSpec(
        "Diagnose",
        "tourniquet.diagnostics.handler.diagnose",
        "Read-only diagnostics of the affected resource.",
        environment=("PROTECTED_TAG_KEY", *SCOPE_ENVIRONMENT, *MEMBER_ENVIRONMENT),
        timeout_seconds=15,
        placeholder="DiagnoseFunctionArn",
        member_role="diagnose",
    ),
    FunctionSpec(
        "Plan",
        "tourniquet.playbooks.handler.plan",
        "Chooses the playbook: automatic steps and steps that wait for approval.",
        environment=(
            "APPROVAL_TIMEOUT_SECONDS",
            "DRY_RUN",
            "PROTECTED_TAG_KEY",
            "PROTECTED_PRINCIPALS",
            "PLAYBOOKS_FILE",
            *SCOPE_ENVIRONMENT,
        ),
        placeholder="PlanFunctionArn",
    ),
    FunctionSpec(
        "Triage",
        "tourniquet.triage.handler.triage",
        "The verdict on an incident (deterministic, optionally raised by a model); announces its opening.",
        environment=(
            "TABLE_NAME",
            "TRIAGE_MODEL_ID",
            "TRIAGE_MODEL_TIMEOUT_SECONDS",
            *FEED_ENVIRONMENT,
        ),
        # The model's time box (at most 60 s) and the announcement fit in it.
        timeout_seconds=75,
        placeholder="TriageFunctionArn",
    ),
    FunctionSpec(
        "Contain",
        "tourniquet.containment.handler.contain",
        "Runs a plan's containment actions: record each before-state, act, verify.",
        environment=("TABLE_NAME", "PROTECTED_TAG_KEY", "DRY_RUN", *SCOPE_ENVIRONMENT, *MEMBER_ENVIRONMENT),
        # Every automatic (or approved) action of a plan, in one invocation; the task waits 150 s.
        timeout_seconds=120,
        placeholder="ContainFunctionArn",
        member_role="contain",
    ),
    FunctionSpec(
        "Release",
        "tourniquet.containment.handler.release",
        "Returns what an incident contained to its recorded before-state, verified; snapshots are kept.",
        environment=(
            "TABLE_NAME",
            "PROTECTED_TAG_KEY",
            *SCOPE_ENVIRONMENT,
            *MEMBER_ENVIRONMENT,
            *FEED_ENVIRONMENT,
        ),
        # A stopped instance is started and waited for (up to three minutes) before it rejoins its fleet.
        timeout_seconds=280,
        placeholder="ReleaseFunctionArn",
        member_role="release",
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
            "RETENTION_DAYS",
        ),
        timeout_seconds=15,
        placeholder="RequestApprovalFunctionArn",
    ),
    FunctionSpec(
        "SlackInteraction",
        "tourniquet.approval.callback.slack_interaction",
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
        environment=("TABLE_NAME", "WEBHOOK_SECRET_ARN", "STATE_MACHINE_ARN", "WEBHOOK_MAX_ALERTS"),
        reserved_concurrency=10,
    ),
    FunctionSpec(
        "Record",
        "tourniquet.incidents.handler.record",
        "Records ignored events, decisions, outcomes and failures on the incident, and announces them.",
        environment=("TABLE_NAME", "RETENTION_DAYS", *FEED_ENVIRONMENT),
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
            "RETENTION_DAYS",
        ),
        timeout_seconds=15,
        placeholder="NotifyFunctionArn",
    ),
)

# The workflows' ARNs, known only once the workflows exist (which invoke the functions): set by
# :meth:`Functions.use_workflows`.
WORKFLOW_ENVIRONMENT = ("STATE_MACHINE_ARN", "RELEASE_STATE_MACHINE_ARN")

# The approval functions touch only approvals and the incidents they decide (their timeline and status).
APPROVAL_PARTITIONS = ("APPROVAL#*", "INCIDENT#*")

RUNTIME_REASON = (
    "The runtime is pinned to python3.12 on purpose: stacks/bundling.py vendors cp312 manylinux wheels "
    "(pydantic-core) for exactly this runtime, and the runtime is supported by Lambda. Moving to a newer "
    "runtime is a deliberate change of RUNTIME and PYTHON_VERSION together."
)


def role_of(fn: lambda_.Function) -> iam.IRole:
    """The function's own role (every function here is given one)."""
    if fn.role is None:
        raise ValueError(f"{fn.node.path} has no role")
    return fn.role


class Functions(Construct):
    """Every function of :data:`FUNCTIONS`, each allowed exactly what its step does."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        storage: AuditStorage,
        topics: Topics,
        credentials: Credentials,
        feed: SiemFeed,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage = storage
        self._feed = feed
        self._topics = topics
        self._credentials = credentials
        environment = self._environment(config)
        code = function_code(config.playbooks)
        self._reserve_concurrency = config.reserved_concurrency
        self._member_roles = config.member_role_names
        self._made_as = (code, environment, log_retention)
        self.functions: dict[str, lambda_.Function] = {
            spec.construct_id: self._function(spec, code, environment, log_retention) for spec in FUNCTIONS
        }
        self._grant()
        self._grant_feed(config)
        for spec in FUNCTIONS:
            fn = self.functions[spec.construct_id]
            if spec.member_role is not None:
                self._grant_member_role(fn, self._member_role_name(spec), config)
            if "SCOPE_OUS" in spec.environment and config.scope_ous and config.organization_id:
                self._grant_organization_reads(fn, config.organization_id)

    def add(self, spec: FunctionSpec) -> lambda_.Function:
        """A function only some deployments have (the weekly report), made as every other one; what it may
        do besides writing its logs and traces is for its caller to grant."""
        fn = self._function(spec, *self._made_as)
        acknowledge(role_of(fn), "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
        self.functions[spec.construct_id] = fn
        return fn

    def __getitem__(self, name: str) -> lambda_.Function:
        return self.functions[name]

    @property
    def by_placeholder(self) -> dict[str, lambda_.Function]:
        """The workflow functions by the ASL placeholder that receives their ARN."""
        return {
            spec.placeholder: self.functions[spec.construct_id]
            for spec in FUNCTIONS
            if spec.placeholder is not None
        }

    @property
    def flood_facing(self) -> dict[str, lambda_.Function]:
        """The functions a flood of alerts or requests runs hardest (those given a concurrency cap)."""
        return {
            spec.construct_id: self.functions[spec.construct_id]
            for spec in FUNCTIONS
            if spec.reserved_concurrency is not None
        }

    def use_workflows(self, *, incident_response: sfn.StateMachine, release: sfn.StateMachine) -> None:
        """Give the HTTP edge functions the workflows they start or answer: their ARNs and the grants."""
        values = {
            "STATE_MACHINE_ARN": incident_response.state_machine_arn,
            "RELEASE_STATE_MACHINE_ARN": release.state_machine_arn,
        }
        for spec in FUNCTIONS:
            for name in spec.environment:
                if name in WORKFLOW_ENVIRONMENT:
                    self.functions[spec.construct_id].add_environment(name, values[name])
        interaction, webhook = self.functions["SlackInteraction"], self.functions["Webhook"]
        # Only the approval path answers a waiting task, and only of the incident-response workflow.
        interaction.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[incident_response.state_machine_arn],
            )
        )
        release.grant_start_execution(interaction)
        incident_response.grant_start_execution(webhook)

    # --- functions -----------------------------------------------------------------------------------------

    def _environment(self, config: TourniquetConfig) -> dict[str, str | None]:
        """Every environment value a function may get at creation; each function receives only the names it
        lists, and none that the config leaves unset (None)."""
        return {
            "TABLE_NAME": self._storage.table.table_name,
            "DEDUP_WINDOW_SECONDS": str(config.dedup_window_seconds),
            "APPROVAL_TIMEOUT_SECONDS": str(config.approval_timeout_seconds),
            "SLACK_SECRET_ARN": self._credentials.slack_secret.secret_arn,
            "WEBHOOK_SECRET_ARN": self._credentials.webhook_secret.secret_arn,
            "SLACK_CHANNEL": config.slack_channel,
            "APPROVERS": ",".join(config.approvers),
            "APPROVER_GROUPS": ",".join(config.approver_groups),
            "TWO_PERSON_ACTIONS": ",".join(config.two_person_actions),
            "SLACK_TEAM_ID": config.slack_team_id,
            "SLACK_APP_ID": config.slack_app_id,
            "ESCALATION_TOPIC_ARN": self._topics.escalation_topic.topic_arn,
            "PROTECTED_TAG_KEY": config.protected_tag_key,
            "PROTECTED_PRINCIPALS": ",".join(config.protected_principals),
            "DRY_RUN": "true" if config.dry_run else "false",
            "PLAYBOOKS_FILE": DEPLOYED_PLAYBOOKS if config.playbooks else None,
            "RELEASE_OFFER_SECONDS": str(config.release_offer_days * 24 * 3600),
            "RETENTION_DAYS": str(config.retention_days),
            "WEBHOOK_MAX_ALERTS": str(config.webhook_max_alerts),
            # With neither accounts nor OUs configured, the hub's own account; without regions, its region.
            "SCOPE_ACCOUNTS": ",".join(config.scope_accounts)
            or (None if config.scope_ous else Aws.ACCOUNT_ID),
            "SCOPE_OUS": ",".join(config.scope_ous) or None,
            "EXCLUDED_ACCOUNTS": json.dumps(config.excluded_accounts) if config.excluded_accounts else None,
            "SCOPE_REGIONS": ",".join(config.regions) or Aws.REGION,
            "EXTERNAL_ID": config.external_id,
            "PROTECTION_WINDOW_HOURS": str(config.protection_window_hours),
            "TRIAGE_MODEL_ID": config.triage_model_id,
            "TRIAGE_MODEL_TIMEOUT_SECONDS": str(config.triage_model_timeout_seconds),
            "SIEM_QUEUE_URL": self._feed.queue.queue_url,
            "SIEM_FORMAT": config.siem_format,
        }

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        environment: Mapping[str, str | None],
        log_retention: logs.RetentionDays,
    ) -> lambda_.Function:
        environment = {**environment, "MEMBER_ROLE_NAME": self._member_role_name(spec)}
        log_group = logs.LogGroup(self, f"{spec.construct_id}Logs", retention=log_retention)
        # One role per function, without the basic execution managed policy: it may write only its own logs.
        # The roles that assume a member role have fixed names: the member roles trust exactly them.
        role = iam.Role(
            self,
            f"{spec.construct_id}Role",
            role_name=hub_role_name(spec.member_role) if spec.member_role else None,
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
            reserved_concurrent_executions=spec.reserved_concurrency if self._reserve_concurrency else None,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": "tourniquet",
                **{
                    name: value
                    for name in spec.environment
                    if name not in WORKFLOW_ENVIRONMENT and (value := environment[name]) is not None
                },
            },
        )
        acknowledge(fn, "AwsSolutions-L1", RUNTIME_REASON)
        return fn

    def _member_role_name(self, spec: FunctionSpec) -> str | None:
        return getattr(self._member_roles, spec.member_role) if spec.member_role else None

    def _grant_member_role(
        self, fn: lambda_.Function, role_name: str | None, config: TourniquetConfig
    ) -> None:
        """The function acts in a target's account only through that account's member role: in the accounts
        configured, or in any account of the organization (aws:ResourceOrgID) when the scope is the whole
        organization or OUs (resolved at run time). Never in an excluded account."""
        stack = Stack.of(self)

        def role_in(account: str) -> str:
            return stack.format_arn(
                service="iam", region="", account=account, resource="role", resource_name=role_name
            )

        organization_wide = "*" in config.scope_accounts or bool(config.scope_ous)
        if organization_wide:
            acknowledge(
                role_of(fn),
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{role_name}]",
                "The scope is the whole organization or OUs resolved at run time, so the account is known "
                "only then: one role name, in accounts of the organization only (aws:ResourceOrgID), never "
                "in an excluded account (an explicit deny).",
            )
        accounts = [a for a in config.scope_accounts if a != "*"] or [Aws.ACCOUNT_ID]
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(ASSUME_ACTIONS),
                resources=[role_in("*")] if organization_wide else [role_in(a) for a in accounts],
                conditions={"StringEquals": {"aws:ResourceOrgID": config.organization_id}}
                if organization_wide
                else None,
            )
        )
        if config.excluded_accounts:
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    actions=list(ASSUME_ACTIONS),
                    resources=[role_in(account) for account in config.excluded_accounts],
                )
            )

    def _grant_organization_reads(self, fn: lambda_.Function, organization_id: str) -> None:
        """Whether an account is in a scoped OU: its parents, read in the organization only."""
        partition = Aws.PARTITION
        for kind in ("account", "ou"):
            acknowledge(
                role_of(fn),
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:organizations::*:{kind}/{organization_id}/*]",
                "ListParents of whichever account an alert names, walking up to a scoped OU: read-only, "
                "inside the organization, and the management account's id is not known here.",
            )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["organizations:ListParents"],
                resources=[
                    f"arn:{partition}:organizations::*:account/{organization_id}/*",
                    f"arn:{partition}:organizations::*:ou/{organization_id}/*",
                ],
            )
        )

    def _grant_feed(self, config: TourniquetConfig) -> None:
        """The SIEM queue for the announcers; the finding's workflow status in Security Hub; the model."""
        for name in ANNOUNCERS:
            self._feed.grant_send(self.functions[name])
        for name in SECURITY_HUB_WRITERS:
            grant_security_hub_status(self.functions[name], config.regions)
        if config.triage_model_id:
            grant_model(self.functions["Triage"], config.triage_model_id)

    # --- grants --------------------------------------------------------------------------------------------

    def _grant(self) -> None:
        """The hub's own data: the table, secrets and topics. What a function does in a target's account is
        the member role's to allow (stacks/member.py)."""
        fn = self.functions
        table = self._storage
        table.grant(fn["Deduplicate"], TABLE_READ + TABLE_WRITE)
        for name in ("Contain", "Release"):
            table.grant(fn[name], TABLE_READ + TABLE_WRITE)
        for name in ("RequestApproval", "SlackInteraction"):
            table.grant(fn[name], TABLE_READ + TABLE_WRITE, partitions=APPROVAL_PARTITIONS)
        table.grant(fn["Notify"], TABLE_READ + TABLE_WRITE)
        for name in ("RequestApproval", "SlackInteraction", "Notify"):
            grant_secret_value(fn[name], self._credentials.slack_secret)
        for name in ("RequestApproval", "Notify"):
            self._topics.grant_escalation(fn[name])
        table.grant(fn["Record"], TABLE_READ + TABLE_WRITE)
        table.grant(fn["Triage"], TABLE_READ + TABLE_WRITE)
        grant_secret_value(fn["Webhook"], self._credentials.webhook_secret)

        for function in fn.values():
            acknowledge(role_of(function), "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)


# What BatchUpdateFindings could change besides the workflow status and the note: a request that sets any of
# them is denied (the ASFF field condition keys). BatchUpdateFindingsV2 is authorized by the same action.
_OTHER_FINDING_FIELDS = (
    "Confidence",
    "Criticality",
    "RelatedFindings",
    "Severity",
    "Types",
    "UserDefinedFields",
    "VerificationState",
)


def grant_security_hub_status(fn: lambda_.Function, regions: tuple[str, ...]) -> None:
    """Set a finding's workflow status to NOTIFIED or RESOLVED, with a note, in the hub's Security Hub (the
    delegated administrator holds its members' findings) in the configured regions; nothing else."""
    stack = Stack.of(fn)
    hubs = [
        stack.format_arn(service="securityhub", region=region, resource="hub", resource_name="default")
        for region in (regions or (Aws.REGION,))
    ]
    fn.add_to_role_policy(iam.PolicyStatement(actions=["securityhub:BatchUpdateFindings"], resources=hubs))
    fn.add_to_role_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=["securityhub:BatchUpdateFindings"],
            resources=["*"],
            conditions={
                "StringNotEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": ["NOTIFIED", "RESOLVED"]}
            },
        )
    )
    fn.add_to_role_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=["securityhub:BatchUpdateFindings"],
            resources=["*"],
            conditions={
                "Null": {f"securityhub:ASFFSyntaxPath/{field}": "false" for field in _OTHER_FINDING_FIELDS}
            },
        )
    )


INFERENCE_GEOGRAPHIES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")


def model_resources(stack: Stack, model_id: str) -> tuple[list[str], str | None]:
    """The ARNs Converse needs for ``model_id`` (a foundation model, or an inference profile and the
    foundation model it routes to in any region it spans), and that model's name when so routed."""
    profile: str | None = None
    if model_id.startswith("arn:"):
        kind, _, name = model_id.split(":", 5)[5].partition("/")
        if kind != "inference-profile":
            return [model_id], None
        profile, model_id = model_id, name
    geography, dot, base = model_id.partition(".")
    if dot and geography in INFERENCE_GEOGRAPHIES:
        profile = profile or stack.format_arn(
            service="bedrock", resource="inference-profile", resource_name=model_id
        )
        return [profile, f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{base}"], base
    return [f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model_id}"], None


def grant_model(fn: lambda_.Function, model_id: str) -> None:
    """Converse with the configured model only (Converse is authorized as bedrock:InvokeModel)."""
    resources, routed = model_resources(Stack.of(fn), model_id)
    if routed is not None:
        acknowledge(
            role_of(fn),
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{routed}]",
            "An inference profile routes each request to one of its regions: the one foundation model, in "
            "whichever of them answers.",
        )
    fn.add_to_role_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=resources))
