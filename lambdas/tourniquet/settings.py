"""Runtime settings, read from each function's environment.

Settings are read once per set of environment values, not once per process: a function's steps reuse them
(reading them costs about a millisecond), while several functions sharing one process (the local sandbox)
never see each other's configuration. A model reads its fields from the environment variables their aliases
name (pydantic-settings did the same at a tenth of a second of every cold start).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EnvironmentSettings(BaseModel):
    """Settings from the environment: each field from the variable its alias names, unless given."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, given: Any) -> Any:
        values = dict(given) if isinstance(given, dict) else {}
        for field in cls.model_fields.values():
            if field.alias and field.alias not in values and field.alias in os.environ:
                values[field.alias] = os.environ[field.alias]
        return values


SeverityName = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]
SEVERITIES: tuple[SeverityName, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


class ChannelRoute(BaseModel):
    """Which incidents a channel hears of: their severities and their playbooks (globs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    severities: tuple[SeverityName, ...] = SEVERITIES
    playbooks: tuple[str, ...] = ("*",)


class Settings(EnvironmentSettings):
    table_name: str = Field(default="tourniquet", alias="TABLE_NAME")
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    dedup_window_seconds: int = Field(default=3600, ge=60, alias="DEDUP_WINDOW_SECONDS")
    approval_timeout_seconds: int = Field(default=3600, ge=60, alias="APPROVAL_TIMEOUT_SECONDS")
    slack_secret_arn: str | None = Field(default=None, alias="SLACK_SECRET_ARN")
    slack_channel: str = Field(default="#security-incidents", alias="SLACK_CHANNEL")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    approvers: tuple[str, ...] = Field(default=(), alias="APPROVERS")
    approver_groups: tuple[str, ...] = Field(default=(), alias="APPROVER_GROUPS")
    two_person_actions: tuple[str, ...] = Field(default=(), alias="TWO_PERSON_ACTIONS")
    # The workspace and app whose clicks count. Production must set both: the signing secret is per app, and
    # these refuse a click from another workspace of a distributed app or from an app sharing the endpoint.
    slack_team_id: str | None = Field(default=None, alias="SLACK_TEAM_ID")
    slack_app_id: str | None = Field(default=None, alias="SLACK_APP_ID")
    escalation_topic_arn: str | None = Field(default=None, alias="ESCALATION_TOPIC_ARN")
    # The channels (channel name -> route) and what each one needs (docs/channels.md); Slack without a route
    # of its own hears of every incident (channels.routing).
    channel_routes: dict[str, ChannelRoute] = Field(default_factory=dict, alias="CHANNEL_ROUTES")
    pagerduty_secret_arn: str | None = Field(default=None, alias="PAGERDUTY_SECRET_ARN")
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue", alias="PAGERDUTY_EVENTS_URL"
    )
    teams_secret_arn: str | None = Field(default=None, alias="TEAMS_SECRET_ARN")
    email_topic_arn: str | None = Field(default=None, alias="EMAIL_TOPIC_ARN")
    protected_tag_key: str = Field(default="tourniquet:protected", alias="PROTECTED_TAG_KEY")
    # Break-glass, CI and deploy principals: names or ARNs, globs allowed; never contained automatically.
    protected_principals: tuple[str, ...] = Field(default=(), alias="PROTECTED_PRINCIPALS")
    dry_run: bool = Field(default=False, alias="DRY_RUN")
    # The deployment's own playbooks, relative to the asset root; unset: the bundled ones.
    playbooks_file: Path | None = Field(default=None, alias="PLAYBOOKS_FILE")
    # The workflow an approved Release click starts, and how long a closed incident's card offers it.
    release_state_machine_arn: str | None = Field(default=None, alias="RELEASE_STATE_MACHINE_ARN")
    release_offer_seconds: int = Field(default=30 * 24 * 3600, ge=3600, alias="RELEASE_OFFER_SECONDS")
    # How long approvals, release offers and the records of what ended without an incident are kept (past
    # their deadline); incidents, their timeline and undo records are the audit trail and are kept.
    retention_days: int = Field(default=90, ge=1, alias="RETENTION_DAYS")
    # Where Tourniquet acts: account ids ("*" for every account that has the member stack), organizational
    # units, accounts never acted in (id -> why) and regions. Nothing configured means nowhere.
    scope_accounts: tuple[str, ...] = Field(default=(), alias="SCOPE_ACCOUNTS")
    scope_ous: tuple[str, ...] = Field(default=(), alias="SCOPE_OUS")
    excluded_accounts: dict[str, str] = Field(default_factory=dict, alias="EXCLUDED_ACCOUNTS")
    scope_regions: tuple[str, ...] = Field(default=(), alias="SCOPE_REGIONS")
    # A protected tag set on a target this many hours before its finding is suspicious: its actions wait for
    # a person instead of being skipped.
    protection_window_hours: int = Field(default=24, ge=1, le=24 * 90, alias="PROTECTION_WINDOW_HOURS")
    # The role this function assumes in the target's account (the member stack's), and the ExternalId its
    # trust policy asks for.
    member_role_name: str | None = Field(default=None, alias="MEMBER_ROLE_NAME")
    external_id: str | None = Field(default=None, alias="EXTERNAL_ID")
    # The optional model that may raise a verdict (Bedrock's Converse API; unset: the deterministic verdict
    # alone), and how long one answer may take before the deterministic verdict stands.
    triage_model_id: str | None = Field(default=None, alias="TRIAGE_MODEL_ID")
    triage_model_timeout_seconds: int = Field(default=20, ge=1, le=60, alias="TRIAGE_MODEL_TIMEOUT_SECONDS")
    # The SIEM feed: the queue the SIEM polls, and the body of its messages.
    siem_queue_url: str | None = Field(default=None, alias="SIEM_QUEUE_URL")
    siem_format: Literal["tourniquet", "ocsf"] = Field(default="tourniquet", alias="SIEM_FORMAT")

    @property
    def retention_seconds(self) -> int:
        return self.retention_days * 86_400

    @field_validator("excluded_accounts", "channel_routes", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator(
        "approvers",
        "approver_groups",
        "two_person_actions",
        "protected_principals",
        "scope_accounts",
        "scope_ous",
        "scope_regions",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


_NAMES = tuple(str(field.alias) for field in Settings.model_fields.values())


def get_settings() -> Settings:
    return _read(tuple(os.environ.get(name) for name in _NAMES))


@functools.lru_cache(maxsize=32)
def _read(environment: tuple[str | None, ...]) -> Settings:
    # The values are the cache key; Settings reads them from the environment, which holds them now.
    return Settings()
