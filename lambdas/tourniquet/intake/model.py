"""The normalized alert: one versioned model for every source.

Field names follow the OCSF Detection Finding (class 2004) where one exists:

| OCSF | here |
| --- | --- |
| ``metadata.product.name`` | ``product`` (``source`` says how it arrived) |
| ``finding_info.uid`` | ``finding_id`` |
| ``finding_info.types`` / ``category_name`` | ``type`` / ``category`` |
| ``severity_id`` / ``severity`` (raw) | ``severity`` / ``severity_raw`` |
| ``finding_info.title`` / ``desc`` | ``title`` / ``description`` |
| ``cloud.account.uid`` / ``cloud.region`` | ``account`` / ``region`` |
| ``finding_info.last_seen_time`` / ``first_seen_time`` | ``time`` / ``first_seen`` |
| ``resources`` / ``actor`` | ``resources`` / ``actor`` |
| ``finding_info.src_url`` | ``raw_ref`` |
| ``unmapped`` (labels) | ``labels`` |
| ``finding_info.attacks`` | ``attacks`` |
| ``observables`` | ``observables`` |
| ``metadata.uid`` / ``metadata.product.uid`` | ``securityhub`` (where Security Hub holds it) |

Every field is a string, an integer, a boolean or a structure of them: the alert is stored in DynamoDB as is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = "1"
UNKNOWN = "unknown"
"""The account or region of an alert whose source does not say (a Grafana rule without AWS labels)."""


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
    """An affected resource. ``type`` uses the ASFF resource type names (``AwsEc2Instance``, …).

    ``id`` is the resource's own short identifier (``i-…``, the access key id, the bucket or function name),
    whatever form the source gave it in: the same resource has the same id from every source.
    """

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


class Attack(BaseModel):
    """A MITRE ATT&CK tactic or technique the source itself names (attack sequences, OCSF findings), as it
    names it: ``Credential Access``, ``TA0006``, ``T1078.004 - Valid Accounts: Cloud Accounts``."""

    model_config = ConfigDict(frozen=True)

    tactic: str | None = None
    technique: str | None = None


ObservableType = Literal["ip", "domain", "url", "hash", "user", "access_key", "process"]


class Observable(BaseModel):
    """An indicator the finding carries besides its actor: a peer address, a queried domain, a file hash."""

    model_config = ConfigDict(frozen=True)

    type: ObservableType
    value: str = Field(min_length=1, max_length=512)
    # Where in the finding it was found (``service.action.dnsRequestAction.domain``).
    name: str = ""


class FindingRef(BaseModel):
    """Where Security Hub holds the finding, so that its workflow status can follow the incident.

    ``api`` ``asff``: the finding's ``Id`` and ``ProductArn`` (Security Hub CSPM, BatchUpdateFindings);
    ``ocsf``: its ``metadata.uid`` (the new Security Hub, BatchUpdateFindingsV2). ``account`` and ``region``
    are the finding's own: an administrator account updates a member's finding in the finding's region.
    """

    model_config = ConfigDict(frozen=True)

    api: Literal["asff", "ocsf"]
    id: str = Field(min_length=1, max_length=1024)
    product: str | None = Field(default=None, max_length=1024)
    account: str
    region: str


Source = Literal["guardduty", "securityhub", "cloudwatch", "grafana", "alertmanager"]


def _schema_extra(schema: dict[str, Any]) -> None:
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"


class Alert(BaseModel):
    """One alert from any source, normalized (schema version 1)."""

    model_config = ConfigDict(frozen=True, title="Tourniquet alert", json_schema_extra=_schema_extra)

    schema_version: Literal["1"] = SCHEMA_VERSION
    source: Source = Field(description="How the alert arrived.")
    product: str = Field(description="What produced it (GuardDuty, Security Hub, CloudWatch, Grafana, …).")
    finding_id: str = Field(
        description="The source's id for this finding or occurrence; stable across re-sends."
    )
    type: str = Field(description="The finding type, alarm or alert rule name.")
    category: str
    severity: Severity
    severity_raw: str = Field(
        description="The severity exactly as the source gave it ('' when it gave none)."
    )
    title: str
    description: str = ""
    account: str = Field(description=f"The AWS account id, or {UNKNOWN!r} when the source does not say.")
    region: str = Field(description=f"The AWS Region, or {UNKNOWN!r} when the source does not say.")
    time: str = Field(description="When the activity was last seen, ISO 8601 UTC.")
    first_seen: str | None = Field(
        default=None, description="When the activity was first seen, ISO 8601 UTC."
    )
    resources: tuple[Resource, ...] = Field(default=(), description="Affected resources, the subject first.")
    actor: Actor | None = None
    dedup_key: str = Field(description="Stable across re-sends and sources of the same problem.")
    count: int = Field(
        default=1, ge=1, description="How many times the source has seen it (GuardDuty count)."
    )
    drill: bool = Field(
        default=False, description="A sample finding: handled end to end, never paged as real."
    )
    raw_ref: str | None = Field(default=None, description="Where the raw payload can be read.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Source labels that identify or route the alert (Alertmanager labels, resource role, …).",
    )
    attacks: tuple[Attack, ...] = Field(
        default=(), description="MITRE ATT&CK tactics and techniques the source names."
    )
    observables: tuple[Observable, ...] = Field(
        default=(), description="Indicators the finding carries besides its actor (peers, domains, hashes)."
    )
    securityhub: FindingRef | None = Field(
        default=None, description="Where Security Hub holds this finding (for its workflow status)."
    )
    group_key: str | None = Field(
        default=None,
        max_length=1024,
        description="The group the sender delivered the alert in (Alertmanager's and Grafana's groupKey).",
    )

    @property
    def primary_resource(self) -> Resource | None:
        return self.resources[0] if self.resources else None
