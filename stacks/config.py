"""The deployment configuration: one typed model read from the CDK context.

The values live in ``cdk.json`` under the context key ``tourniquet``. A JSON or YAML file named with
``cdk synth -c config=path.json`` overrides them key by key. Invalid values stop the synth with one line that
names the offending key, so a bad deployment never reaches CloudFormation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stacks.names import OWN_TAG_KEYS, STACK_NAME

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = PROJECT_ROOT / "cdk.json"
CONTEXT_KEY = "tourniquet"
CONFIG_FILE_KEY = "config"

# FIFO topics are excluded: the escalation publish carries no message group id.
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
# A channel name as Slack allows it ("#name", lowercase) or a conversation id ("C…", "G…").
_SLACK_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{8,}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,31}")
_SLACK_TEAM = re.compile(r"[TE][A-Z0-9]{2,}")
_SLACK_APP = re.compile(r"A[A-Z0-9]{2,}")
_TAG_KEY = re.compile(r"[\w .:/=+@-]{1,128}")
_ROLE_NAME = r"^[\w+=,.@-]{1,64}$"
_ACCOUNT_ID = re.compile(r"\d{12}")
# An organizational unit, or the organization's root (which holds every account).
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")
_ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
# A Bedrock model id (``anthropic.claude-3-5-haiku-20241022-v1:0``), an inference profile id (``eu.…``,
# ``global.…``) or the ARN of either.
_MODEL_ID = re.compile(
    r"[a-z0-9][a-z0-9.:_-]{2,200}|arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d{0,12}:[a-z-]+/[\w.:-]+"
)
# minutes hours day-of-month month day-of-week year (one of the two days is "?").
_SCHEDULER_CRON = re.compile(r"cron\([0-9*,/?LW#-]+( [0-9A-Za-z*,/?LW#-]+){5}\)")
_CUSTOM_ACTION_ID = re.compile(r"[A-Za-z0-9]{1,20}")
# A connection to GitHub, GitLab or Bitbucket (CodeConnections; CodeStar Connections is its former name).
_CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}"
)
# owner/name, or group/subgroup/name on GitLab.
_REPOSITORY = re.compile(r"[\w.-]+(/[\w.-]+)+")
# A git branch name: no component starts with "-" or ".".
_BRANCH = re.compile(r"\w[\w.-]*(/\w[\w.-]*)*")
# scope_accounts: every account of the organization that has the member stack.
ALL_ACCOUNTS = "*"

SeverityLabel = Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITY_LABELS: tuple[SeverityLabel, ...] = get_args(SeverityLabel)
# The stack names every alarm it creates with this prefix; the CloudWatch trigger must never select them, or
# a failing workflow would raise alarms that start more workflows.
OWN_ALARM_PREFIX = "Tourniquet-"
# GuardDuty findings reach the workflow through their own rule, with their own severity threshold.
_GUARDDUTY_PRODUCT = "GuardDuty"


def labels_at_or_above(minimum: SeverityLabel) -> list[SeverityLabel]:
    """The Security Hub severity labels from ``minimum`` up to CRITICAL."""
    return list(SEVERITY_LABELS[SEVERITY_LABELS.index(minimum) :])


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line that names the key."""


# cdk.json ships this in place of an approver: nobody can approve as it, and a deploy refuses it.
APPROVER_PLACEHOLDER = "U0PLACEHOLDER"


class MemberRoleNames(BaseModel):
    """The member stack's roles: read-only diagnostics, containment and release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    diagnose: str = Field(default="TourniquetDiagnose", pattern=_ROLE_NAME)
    contain: str = Field(default="TourniquetContain", pattern=_ROLE_NAME)
    release: str = Field(default="TourniquetRelease", pattern=_ROLE_NAME)

    @model_validator(mode="after")
    def _distinct(self) -> MemberRoleNames:
        names = (self.diagnose, self.contain, self.release)
        if len(set(names)) != len(names):
            raise ValueError("the diagnose, contain and release roles need three different names")
        # The hub's roles are named "Tourniquet-…" in the hub's account, which is a member as well.
        hub = [name for name in names if name.startswith(f"{STACK_NAME}-")]
        if hub:
            raise ValueError(
                f"{', '.join(hub)}: names starting with '{STACK_NAME}-' belong to the hub's roles"
            )
        return self


_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
# A playbook name, or a glob over them ("*", "ec2_*").
_PLAYBOOK_GLOB = re.compile(r"[\w*?-]{1,64}")


class ChannelRouteConfig(BaseModel):
    """One channel's route: which incidents it hears of (docs/channels.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severities: tuple[SeverityLabel, ...] = Field(
        default=SEVERITY_LABELS, min_length=1, description="The severities of the incidents it hears of."
    )
    playbooks: tuple[str, ...] = Field(
        default=("*",),
        min_length=1,
        description="The playbooks (names or globs) of the incidents it hears of.",
    )

    @field_validator("playbooks")
    @classmethod
    def _valid_playbooks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [name for name in value if not _PLAYBOOK_GLOB.fullmatch(name)]
        if invalid:
            raise ValueError(f"not playbook names or globs: {', '.join(invalid)}")
        return value


class EmailChannelConfig(ChannelRouteConfig):
    addresses: tuple[str, ...] = Field(
        default=(),
        description="Subscribed to the e-mail topic (each confirms by e-mail); more can subscribe by hand.",
    )

    @field_validator("addresses")
    @classmethod
    def _valid_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [address for address in value if not _EMAIL.fullmatch(address)]
        if invalid:
            raise ValueError(f"not e-mail addresses: {', '.join(invalid)}")
        return value


class ChannelsConfig(BaseModel):
    """The channels; each one named here is deployed (its secret or topic) and routed. Slack is always
    deployed (it carries the approval gate) and, unless routed here, hears of every incident."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack: ChannelRouteConfig | None = Field(
        default=None,
        description="Which incidents' changes of status Slack is told of; unset, every incident's. The cards "
        "and their buttons (the approval gate) are posted whatever the route.",
    )

    pagerduty: ChannelRouteConfig | None = Field(
        default=None, description="PagerDuty Events API v2; the routing key goes in the PagerDutySecret."
    )
    teams: ChannelRouteConfig | None = Field(
        default=None, description="A Microsoft Teams Workflows webhook; its URL goes in the TeamsSecret."
    )
    email: EmailChannelConfig | None = Field(default=None, description="E-mail through an SNS topic.")

    def routes(self) -> dict[str, dict[str, list[str]]]:
        """CHANNEL_ROUTES: each configured channel's severities and playbooks."""
        return {
            name: {"severities": list(route.severities), "playbooks": list(route.playbooks)}
            for name, route in (
                ("slack", self.slack),
                ("pagerduty", self.pagerduty),
                ("teams", self.teams),
                ("email", self.email),
            )
            if route is not None
        }


class PipelineConfig(BaseModel):
    """Continuous delivery: a CDK pipeline in the hub's account deploys every commit of one branch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_arn: str = Field(
        description="The CodeConnections connection to the repository host, in the hub's account and home "
        "region."
    )
    repository: str = Field(description="The repository the pipeline deploys from: owner/name.")
    branch: str = Field(default="main", description="The branch whose every commit is deployed.")
    stackset_account_id: str | None = Field(
        default=None,
        description="The account the pipeline deploys the StackSet stack to: the management account "
        "(stackset_call_as SELF) or the StackSets delegated administrator. Required with stackset_ous.",
    )

    @field_validator("connection_arn")
    @classmethod
    def _valid_connection(cls, value: str) -> str:
        if not _CONNECTION_ARN.fullmatch(value):
            raise ValueError(
                "must be a connection ARN like "
                "'arn:aws:codeconnections:eu-west-1:111122223333:connection/<uuid>'"
            )
        return value

    @field_validator("repository")
    @classmethod
    def _valid_repository(cls, value: str) -> str:
        if not _REPOSITORY.fullmatch(value):
            raise ValueError("must name the repository as owner/name")
        return value

    @field_validator("branch")
    @classmethod
    def _valid_branch(cls, value: str) -> str:
        if not _BRANCH.fullmatch(value) or ".." in value or value.endswith((".lock", ".")):
            raise ValueError("must be a branch name like 'main' or 'release/prod'")
        return value

    @field_validator("stackset_account_id")
    @classmethod
    def _valid_stackset_account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError("must be a 12-digit account id")
        return value


class TourniquetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_channel: str = Field(description="Where approval cards and outcomes go.")
    approvers: tuple[str, ...] = Field(
        min_length=1, description="Slack user ids allowed to approve; without one, nothing can be approved."
    )
    approver_groups: tuple[str, ...] = Field(
        default=(), description="Slack user groups whose members may approve, besides the approvers."
    )
    two_person_actions: tuple[str, ...] = Field(
        default=(), description="Containment actions that need two different approvers."
    )
    # The workspace and the app whose clicks count: a signing secret is per app, so these refuse clicks from
    # another workspace of a distributed app, or from another app posting to the same endpoint.
    slack_team_id: str | None = None
    slack_app_id: str | None = None
    guardduty_min_severity: float = Field(default=4.0, ge=0, le=10)
    securityhub_product_names: tuple[str, ...] = Field(
        default=("Inspector", "Macie", "IAM Access Analyzer"),
        description="Security Hub findings of these products start the workflow; an empty list disables "
        "the rule.",
    )
    securityhub_min_severity: SeverityLabel = "HIGH"
    securityhub_v2_product_names: tuple[str, ...] = Field(
        default=("Inspector", "Macie", "IAM Access Analyzer"),
        description="The new Security Hub's findings (OCSF, Findings Imported V2) of these products start "
        "the workflow; an empty list disables the rule. GuardDuty may be listed: its findings fold with the "
        "native ones.",
    )
    securityhub_v2_min_severity: SeverityLabel = "HIGH"
    securityhub_custom_action_ids: tuple[str, ...] = Field(
        default=("SendToTourniquet",),
        description="The ids of the Security Hub custom actions whose use starts the workflow for the chosen "
        "findings (create the action in Security Hub with this id); an empty list disables the rule.",
    )
    triage_model_id: str | None = Field(
        default=None,
        description="A Bedrock model or inference profile that may raise each verdict (Converse API); unset: "
        "the deterministic verdict alone. The functions may invoke this model only.",
    )
    triage_model_timeout_seconds: int = Field(
        default=20,
        ge=1,
        le=60,
        description="How long the model may take before the deterministic verdict stands.",
    )
    siem_format: Literal["tourniquet", "ocsf"] = Field(
        default="tourniquet",
        description="The SIEM queue's message body: Tourniquet's envelope (docs/siem-envelope-schema.json) "
        "or an OCSF Detection Finding.",
    )
    cloudwatch_alarm_prefixes: tuple[str, ...] = Field(
        default=("security-",),
        description="Alarms whose names start with one of these prefixes start the workflow when they fire; "
        "an empty list disables the rule.",
    )
    dedup_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # A week bounds how long a contained instance can wait for a decision before the request escalates.
    approval_timeout_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    protected_tag_key: str = "tourniquet:protected"
    protected_principals: tuple[str, ...] = Field(
        default=(),
        description="IAM principals never contained automatically (break-glass, CI and deploy roles): "
        "user or role names or ARNs, `*` globs allowed. Their actions wait for approval.",
    )
    dry_run: bool = False
    playbooks: Path | None = Field(
        default=None,
        description="The deployment's own playbooks file (TOML, like the bundled playbooks.toml), "
        "relative to the file that names it (cdk.json or the config file); unset: the bundled playbooks.",
    )
    release_offer_days: int = Field(
        default=30, ge=1, le=365, description="How long a closed incident's card offers the Release button."
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="How long approvals and release offers (past their deadline) and the records of ignored, "
        "resolved and unattached events are kept before DynamoDB's TTL deletes them.",
    )
    webhook_max_alerts: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="The most alerts one webhook request may carry; a larger one is refused (413).",
    )
    protection_window_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 90,
        description="A protected tag set on an instance this many hours before its finding is suspicious: "
        "instead of skipping the instance, every action waits for approval, lifting the protection first.",
    )
    member_role_names: MemberRoleNames = Field(
        default_factory=MemberRoleNames,
        description="The roles the member stack creates in every account in scope, one per purpose.",
    )
    external_id: str = Field(
        default="tourniquet",
        pattern=r"^[\w+=,.@:/-]+$",
        min_length=2,
        max_length=1224,
        description="The ExternalId the member roles require of the hub's functions.",
    )
    # Where Tourniquet acts. The fields that check another field come after it (pydantic validates in order).
    scope_accounts: tuple[str, ...] = Field(
        default=(),
        description="The accounts Tourniquet acts in: 12-digit ids, or ['*'] for every account of the "
        "organization that has the member stack. With neither this nor scope_ous, the hub's own account.",
    )
    scope_ous: tuple[str, ...] = Field(
        default=(),
        description="Organizational units (or the root) whose accounts, at any depth, Tourniquet acts in; "
        "resolved at run time (organizations:ListParents).",
    )
    excluded_accounts: dict[str, str] = Field(
        default_factory=dict,
        description="Accounts never acted in, id -> the reason given on their alerts (the management "
        "account, say): their alerts are raised for a person.",
    )
    regions: tuple[str, ...] = Field(
        default=(),
        description="The regions Tourniquet acts in, the hub's home region first; every other one gets a "
        "forwarder stack. Empty: the region the hub is deployed in, alone.",
    )
    organization_id: str | None = Field(
        default=None,
        validate_default=True,
        description="The AWS Organizations id: member roles trust the hub only from inside it "
        "(aws:PrincipalOrgID), and the hub assumes roles only inside it (aws:ResourceOrgID).",
    )
    stackset_ous: tuple[str, ...] = Field(
        default=(),
        description="Organizational units (or the root) the StackSet deploys the member stack to, with "
        "automatic deployment to accounts that join them. Empty: no StackSet.",
    )
    stackset_call_as: Literal["SELF", "DELEGATED_ADMIN"] = Field(
        default="SELF",
        description="SELF when the StackSet stack is deployed in the management account, DELEGATED_ADMIN "
        "in a StackSets delegated administrator account.",
    )
    hub_account_id: str | None = Field(
        default=None,
        validate_default=True,
        description="The hub's account, named by member stacks deployed in other accounts (required with "
        "stackset_ous). Unset: the account the member stack is deployed in.",
    )
    escalation_topic_arn: str | None = None
    channels: ChannelsConfig = Field(
        default_factory=ChannelsConfig,
        description="Slack's route, and PagerDuty, Microsoft Teams and e-mail (docs/channels.md); none of "
        "those by default",
    )
    table_deletion_protection: bool = True
    reserved_concurrency: bool = Field(
        default=False,
        description="Reserve concurrency for the functions a flood of alerts runs hardest (70 in all, see "
        "FUNCTIONS). Off by default: Lambda keeps 100 executions unreserved, so reservations fail the "
        "deploy in an account whose concurrency quota is below 170.",
    )
    weekly_report_schedule: str | None = Field(
        default=None,
        description="When to post the last seven days' incident report to the Slack channel: an EventBridge "
        "Scheduler cron expression in UTC, such as 'cron(0 8 ? * MON *)'. Unset: no weekly report.",
    )
    # After the keys it checks (pydantic validates in order).
    pipeline: PipelineConfig | None = Field(
        default=None,
        description="Deploy through a pipeline in the hub's account (docs/pipeline.md). Unset: no pipeline; "
        "cdk deploy deploys the stacks.",
    )

    @field_validator("weekly_report_schedule")
    @classmethod
    def _valid_weekly_schedule(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEDULER_CRON.fullmatch(value):
            raise ValueError(
                "must be an EventBridge Scheduler cron expression of six fields, like 'cron(0 8 ? * MON *)'"
            )
        return value

    @field_validator("slack_channel")
    @classmethod
    def _valid_channel(cls, value: str) -> str:
        if not _SLACK_CHANNEL.fullmatch(value):
            raise ValueError(
                "must be a channel name like '#security-incidents' or a channel id like 'C0123ABCD'"
            )
        return value

    @field_validator("playbooks")
    @classmethod
    def _valid_playbooks(cls, value: Path | None) -> Path | None:
        if value is not None:
            # The runtime's own loader: what it refuses here, the functions would refuse at the first alert.
            from tourniquet.playbooks.catalog import validate  # noqa: PLC0415 - only when a file is named

            validate(value)
        return value

    @field_validator("approvers")
    @classmethod
    def _valid_approvers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [user for user in value if not _SLACK_USER.fullmatch(user)]
        if invalid:
            raise ValueError(f"not Slack user ids: {', '.join(invalid)}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate user ids")
        return value

    @field_validator("approver_groups")
    @classmethod
    def _valid_groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [group for group in value if not _SLACK_GROUP.fullmatch(group)]
        if invalid:
            raise ValueError(f"not Slack user group ids (S…): {', '.join(invalid)}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate group ids")
        return value

    @field_validator("two_person_actions")
    @classmethod
    def _known_actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            return value
        # The runtime package is the one list of containment actions; a misspelt name would silently
        # leave an action under one approver.
        from tourniquet.containment.registry import ACTIONS  # noqa: PLC0415 - only when the key is set

        # Release re-opens what was contained, so it may need two approvers as well.
        unknown = [name for name in value if name not in ACTIONS and name != "release"]
        if unknown:
            raise ValueError(
                f"unknown containment actions {', '.join(unknown)}; known: {', '.join(sorted(ACTIONS))}"
                ", release"
            )
        if len(set(value)) != len(value):
            raise ValueError("duplicate actions")
        return value

    @field_validator("slack_team_id")
    @classmethod
    def _valid_team(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_TEAM.fullmatch(value):
            raise ValueError("must be a Slack workspace id like 'T0123ABCD'")
        return value

    @field_validator("slack_app_id")
    @classmethod
    def _valid_app(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_APP.fullmatch(value):
            raise ValueError("must be a Slack app id like 'A0123ABCD'")
        return value

    @field_validator("securityhub_product_names")
    @classmethod
    def _valid_products(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name.strip() or len(name) > 128 for name in value):
            raise ValueError("product names must be 1 to 128 characters")
        if len(set(value)) != len(value):
            raise ValueError("duplicate product names")
        if _GUARDDUTY_PRODUCT in value:
            raise ValueError(
                "GuardDuty findings already start the workflow through their own rule "
                "(guardduty_min_severity); remove 'GuardDuty'"
            )
        return value

    @field_validator("securityhub_v2_product_names")
    @classmethod
    def _valid_v2_products(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name.strip() or len(name) > 128 for name in value):
            raise ValueError("product names must be 1 to 128 characters")
        if len(set(value)) != len(value):
            raise ValueError("duplicate product names")
        return value

    @field_validator("securityhub_custom_action_ids")
    @classmethod
    def _valid_custom_actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [name for name in value if not _CUSTOM_ACTION_ID.fullmatch(name)]
        if invalid:
            raise ValueError(f"not custom action ids (1 to 20 letters and digits): {', '.join(invalid)}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate ids")
        return value

    @field_validator("triage_model_id")
    @classmethod
    def _valid_model(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL_ID.fullmatch(value):
            raise ValueError("must be a Bedrock model id, an inference profile id, or the ARN of either")
        return value

    @field_validator("cloudwatch_alarm_prefixes")
    @classmethod
    def _valid_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not prefix or len(prefix) > 255 for prefix in value):
            raise ValueError("prefixes must be 1 to 255 characters")
        if len(set(value)) != len(value):
            raise ValueError("duplicate prefixes")
        own = OWN_ALARM_PREFIX.lower()
        clashing = [p for p in value if own.startswith(p.lower()) or p.lower().startswith(own)]
        if clashing:
            raise ValueError(
                f"{', '.join(clashing)} would select Tourniquet's own alarms (named '{OWN_ALARM_PREFIX}…')"
            )
        return value

    @field_validator("protected_tag_key")
    @classmethod
    def _valid_tag_key(cls, value: str) -> str:
        if not _TAG_KEY.fullmatch(value):
            raise ValueError("must be 1 to 128 letters, digits, spaces or _ . : / = + - @")
        if value.lower().startswith("aws:"):
            raise ValueError("tag keys starting with 'aws:' are reserved by AWS")
        if value in OWN_TAG_KEYS:
            raise ValueError(f"{value} is a tag containment writes itself: it cannot also mean 'protected'")
        return value

    @field_validator("escalation_topic_arn")
    @classmethod
    def _valid_topic_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SNS_ARN.fullmatch(value):
            raise ValueError(
                "must be the ARN of a standard SNS topic (arn:aws:sns:<region>:<account>:<name>)"
            )
        return value

    @field_validator("scope_accounts")
    @classmethod
    def _valid_scope_accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if ALL_ACCOUNTS in value and len(value) > 1:
            raise ValueError("'*' (every account of the organization) stands alone")
        invalid = [
            account for account in value if account != ALL_ACCOUNTS and not _ACCOUNT_ID.fullmatch(account)
        ]
        if invalid:
            raise ValueError(f"not 12-digit account ids: {', '.join(invalid)} (or ['*'] for every account)")
        if len(set(value)) != len(value):
            raise ValueError("duplicate account ids")
        return value

    @field_validator("scope_ous", "stackset_ous")
    @classmethod
    def _valid_ous(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [ou for ou in value if not _OU_ID.fullmatch(ou)]
        if invalid:
            raise ValueError(f"not organizational unit ids (ou-…) or a root id (r-…): {', '.join(invalid)}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate ids")
        return value

    @field_validator("excluded_accounts")
    @classmethod
    def _valid_exclusions(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        invalid = [account for account in value if not _ACCOUNT_ID.fullmatch(account)]
        if invalid:
            raise ValueError(f"not 12-digit account ids: {', '.join(invalid)}")
        unexplained = [account for account, reason in value.items() if not reason.strip() or "\n" in reason]
        if unexplained:
            raise ValueError(f"give each account one line of reason: {', '.join(unexplained)}")
        listed = sorted(set(value) & set(info.data.get("scope_accounts", ())))
        if listed:
            raise ValueError(f"{', '.join(listed)} listed in scope_accounts as well")
        return value

    @field_validator("regions")
    @classmethod
    def _valid_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        invalid = [region for region in value if not _REGION.fullmatch(region)]
        if invalid:
            raise ValueError(f"not region names: {', '.join(invalid)}")
        if len(set(value)) != len(value):
            raise ValueError("duplicate regions")
        return value

    @field_validator("organization_id")
    @classmethod
    def _valid_organization(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _ORGANIZATION_ID.fullmatch(value):
            raise ValueError("must be an organization id like 'o-a1b2c3d4e5'")
        everywhere = ALL_ACCOUNTS in info.data.get("scope_accounts", ()) or info.data.get("scope_ous")
        if value is None and everywhere:
            raise ValueError(
                "required when scope_accounts is ['*'] or scope_ous is set: the hub may then assume the "
                "member roles in any account, and only the organization condition keeps that inside it"
            )
        return value

    @field_validator("hub_account_id")
    @classmethod
    def _valid_hub_account(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError("must be a 12-digit account id")
        if value is None and info.data.get("stackset_ous"):
            raise ValueError(
                "required with stackset_ous: the member template names the hub's roles in that account"
            )
        return value

    @field_validator("pipeline")
    @classmethod
    def _deployable_pipeline(
        cls, value: PipelineConfig | None, info: ValidationInfo
    ) -> PipelineConfig | None:
        if value is None:
            return value
        # CodePipeline acts across accounts and regions only from a stack that names both.
        missing = [key for key in ("hub_account_id", "regions") if not info.data.get(key)]
        if missing:
            raise ValueError(
                f"needs {' and '.join(missing)}: the pipeline lives in the hub's account and region"
            )
        if info.data.get("stackset_ous") and value.stackset_account_id is None:
            raise ValueError("needs stackset_account_id with stackset_ous: the account of the StackSet stack")
        if not info.data.get("stackset_ous") and value.stackset_account_id is not None:
            raise ValueError("stackset_account_id is for stackset_ous, which is empty")
        return value

    @property
    def dedup_window_seconds(self) -> int:
        return self.dedup_window_minutes * 60

    @property
    def home_region(self) -> str | None:
        """The hub's region when the config names regions; None: wherever the hub is deployed."""
        return self.regions[0] if self.regions else None

    @property
    def forwarded_regions(self) -> tuple[str, ...]:
        """The regions besides the home region, each with a forwarder stack."""
        return self.regions[1:]


def project_context() -> dict[str, Any]:
    """The ``context`` block of the project's ``cdk.json``."""
    context = json.loads(CDK_JSON.read_text()).get("context", {})
    if not isinstance(context, dict):
        raise ConfigError(f"{CDK_JSON.name}: 'context' must be an object")
    return context


def cli_context() -> dict[str, Any]:
    """The context the CDK CLI hands the app (``cdk.json``, ``cdk.context.json`` and ``-c`` values): in
    ``CDK_CONTEXT_JSON``, or in the file ``CONTEXT_OVERFLOW_LOCATION_ENV`` names when it is too large for the
    environment. Read as the CDK's ``App`` reads it, so it can be checked before the CDK library loads."""
    context: dict[str, Any] = {}
    for source in (os.environ.get("CDK_CONTEXT_JSON"), _overflow_context()):
        try:
            value = json.loads(source) if source else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the context the CDK CLI passed is not JSON: {exc.msg}") from exc
        if isinstance(value, dict):
            context.update(value)
    return context


def _overflow_context() -> str | None:
    location = os.environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if not location:
        return None
    try:
        return Path(location).read_text()
    except OSError as exc:
        raise ConfigError(
            f"the context file the CDK CLI named cannot be read: {exc.strerror or exc}"
        ) from exc


def load_config(context: Mapping[str, Any]) -> TourniquetConfig:
    """Validate the ``tourniquet`` context value, overridden by the file named by the ``config`` value."""
    values = context.get(CONTEXT_KEY, {})
    if not isinstance(values, Mapping):
        raise ConfigError(f"context key '{CONTEXT_KEY}': must be an object")
    merged = _anchored(values, CDK_JSON.parent)
    config_file = context.get(CONFIG_FILE_KEY)
    if config_file is not None:
        merged.update(_anchored(_read_config_file(str(config_file)), Path(str(config_file)).resolve().parent))
    try:
        return TourniquetConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def require_deployable(config: TourniquetConfig) -> None:
    """Refuse what only a deploy must not carry (the sandbox and the tests synthesize it freely)."""
    if APPROVER_PLACEHOLDER in config.approvers:
        raise ConfigError(
            f"config key 'approvers': {APPROVER_PLACEHOLDER} is cdk.json's placeholder, not a person: "
            "name the Slack user ids of the people who may approve (cdk.json, or a file given with "
            "-c config=FILE)"
        )


def playbooks_file(named: str | Path, base: Path = CDK_JSON.parent) -> Path:
    """A ``playbooks`` value as a path: a relative one is read from beside the file that names it (cdk.json,
    or the config file), wherever the command runs."""
    return base / Path(named)


def _anchored(values: Mapping[str, Any], base: Path) -> dict[str, Any]:
    anchored = dict(values)
    if isinstance(anchored.get("playbooks"), str | Path):
        anchored["playbooks"] = playbooks_file(anchored["playbooks"], base)
    return anchored


def _read_config_file(name: str) -> dict[str, Any]:
    path = Path(name)
    try:
        # A file saved by an editor that writes a byte order mark reads the same.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"config file '{name}': {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) if path.suffix.lower() in {".yaml", ".yml"} else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        kind = "YAML" if isinstance(exc, yaml.YAMLError) else "JSON"
        raise ConfigError(f"config file '{name}': not valid {kind}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{name}': must hold an object of config keys")
    return data


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or CONTEXT_KEY
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"config key '{key}': {message}")
    return "; ".join(parts)
