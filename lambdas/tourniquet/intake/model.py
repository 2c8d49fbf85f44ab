"""The normalized alert: one versioned model for every source.

Field names follow the OCSF Detection Finding where one exists (``finding_info.uid`` → ``finding_id``,
``severity_id`` → ``severity``, ``resources``, ``actor``, ``cloud.account.uid`` → ``account``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"


class Severity(StrEnum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Resource(BaseModel):
    """An affected resource. ``type`` uses the ASFF resource type names (``AwsEc2Instance``, …)."""

    model_config = ConfigDict(frozen=True)

    type: str
    id: str
    arn: str | None = None
    region: str | None = None
    details: dict[str, str] = Field(default_factory=dict)


class Actor(BaseModel):
    """Who or what acted: the principal, its access key and where it came from."""

    model_config = ConfigDict(frozen=True)

    principal: str | None = None
    principal_type: str | None = None
    user_name: str | None = None
    access_key_id: str | None = None
    ip: str | None = None


Source = Literal["guardduty", "securityhub", "cloudwatch", "grafana", "alertmanager"]


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"] = SCHEMA_VERSION
    source: Source
    product: str
    finding_id: str
    type: str
    category: str
    severity: Severity
    severity_raw: str
    title: str
    description: str = ""
    account: str
    region: str
    time: str = Field(description="When the activity was last seen, ISO 8601 UTC.")
    resources: tuple[Resource, ...] = ()
    actor: Actor | None = None
    dedup_key: str = Field(description="Stable across re-sends and sources of the same problem.")
    count: int = Field(default=1, ge=1, description="How many times the source has seen it (GuardDuty count).")
    drill: bool = Field(default=False, description="A sample finding: handled end to end, never paged as real.")
    raw_ref: str | None = Field(default=None, description="Where the raw payload can be read.")

    @property
    def primary_resource(self) -> Resource | None:
        return self.resources[0] if self.resources else None
