"""The new Security Hub's findings in OCSF: "Findings Imported V2" events (``detail.findings[0]`` an OCSF
finding, a Detection Finding for GuardDuty, say).

A GuardDuty finding normalizes to the native finding's type, subject, id and dedup key, as it does through
Security Hub CSPM, so that every delivery of one finding folds into one incident. Findings that are resolved
open nothing but resolve their incident; suppressed and archived ones are ignored.
"""

from __future__ import annotations

from typing import Any

from tourniquet.intake import guardduty
from tourniquet.intake.common import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Outcome,
    build,
    clip,
    count,
    dedup_key,
    first,
    invalid,
    join,
    obj,
    optional_time,
    scalar,
    seq,
    short_id,
    subject_rank,
    text,
    time_or_now,
)
from tourniquet.intake.model import Actor, Attack, FindingRef, Observable, ObservableType, Resource, Severity
from tourniquet.intake.securityhub import GUARDDUTY
from tourniquet.state import Ignored, Resolved

# OCSF severity_id: 1 Informational … 5 Critical, 6 Fatal; 0 Unknown and 99 Other fall back to the caption.
_SEVERITIES = {
    1: Severity.INFORMATIONAL,
    2: Severity.LOW,
    3: Severity.MEDIUM,
    4: Severity.HIGH,
    5: Severity.CRITICAL,
    6: Severity.CRITICAL,
}
# OCSF status_id of a finding.
_SUPPRESSED, _RESOLVED, _ARCHIVED = 3, 4, 5
# The new Security Hub names resources by their CloudFormation type; the alert uses the ASFF names.
_RESOURCE_TYPES = {
    "AWS::EC2::Instance": "AwsEc2Instance",
    "AWS::EC2::NetworkInterface": "AwsEc2NetworkInterface",
    "AWS::IAM::AccessKey": "AwsIamAccessKey",
    "AWS::IAM::User": "AwsIamUser",
    "AWS::IAM::Role": "AwsIamRole",
    "AWS::S3::Bucket": "AwsS3Bucket",
    "AWS::EKS::Cluster": "AwsEksCluster",
    "AWS::ECS::Cluster": "AwsEcsCluster",
    "AWS::RDS::DBInstance": "AwsRdsDbInstance",
    "AWS::Lambda::Function": "AwsLambdaFunction",
}
# OCSF resource role_id (1.4+): what the resource was in the activity.
_ROLES = {1: "TARGET", 2: "ACTOR"}
_OBSERVABLE_TYPES: dict[int, ObservableType] = {
    1: "domain",
    2: "ip",
    4: "user",
    6: "url",
    8: "hash",
    9: "process",
}


def parse_finding(finding: Any, *, at: str, account: str | None = None, region: str | None = None) -> Outcome:
    """One OCSF finding; ``account`` and ``region`` (the event's) fill gaps."""
    if not isinstance(finding, dict):
        raise invalid(at, "expected an OCSF finding object")
    info = obj(finding.get("finding_info"))
    metadata = obj(finding.get("metadata"))
    product_info = obj(metadata.get("product"))
    cloud = obj(finding.get("cloud"))
    status = _integer(finding.get("status_id"))
    if status == _ARCHIVED:
        return Ignored(source="securityhub", reason="archived finding: no longer active in Security Hub")
    if status == _SUPPRESSED:
        return Ignored(
            source="securityhub", reason="suppressed finding: marked as not actionable in Security Hub"
        )

    uid = text(info.get("uid"), join(at, "finding_info.uid"))
    product = _product(product_info)
    is_guardduty = product == GUARDDUTY
    types = [scalar(entry) for entry in seq(info.get("types"))]
    gd_type = next((t for t in types if t and _is_guardduty_type(t)), None) if is_guardduty else None
    finding_type = gd_type or text(
        first(*types, obj(info.get("analytic")).get("name"), finding.get("class_name")),
        join(at, "finding_info.types"),
    )
    account = text(first(obj(cloud.get("account")).get("uid"), account), join(at, "cloud.account.uid"))
    region = text(first(cloud.get("region"), region), join(at, "cloud.region"))
    finding_id = uid.rsplit("/finding/", 1)[-1] if is_guardduty and "/finding/" in uid else uid
    resources = sorted(_resources(seq(finding.get("resources")), region), key=lambda r: subject_rank(r.type))
    sequence = finding_type.startswith(f"{guardduty.ATTACK_SEQUENCE}:")
    subject = finding_id if sequence or not resources else resources[0].id
    key = dedup_key(account, region, finding_type, subject)
    title = clip(first(info.get("title")) or finding_type, TITLE_LIMIT)
    last_seen = time_or_now(
        info.get("last_seen_time_dt"),
        info.get("last_seen_time"),
        finding.get("time_dt"),
        finding.get("time"),
    )
    if status == _RESOLVED:
        return Resolved(
            source="securityhub",
            dedup_key=key,
            finding_id=finding_id,
            title=title,
            reason="resolved in Security Hub",
            time=last_seen,
        )

    level, raw_severity = _severity(finding)
    metadata_uid = scalar(metadata.get("uid"), 1024)
    return build(
        source="securityhub",
        product=product,
        finding_id=finding_id,
        type=finding_type,
        category=finding_type.split(":", 1)[0] if gd_type else first(finding.get("class_name")) or product,
        severity=level,
        severity_raw=raw_severity,
        title=title,
        description=clip(scalar(info.get("desc"), DESCRIPTION_LIMIT) or "", DESCRIPTION_LIMIT),
        account=account,
        region=region,
        time=last_seen,
        first_seen=optional_time(
            info.get("first_seen_time_dt"), info.get("first_seen_time"), info.get("created_time_dt")
        ),
        resources=tuple(resources),
        actor=_actor(obj(finding.get("actor")), obj(finding.get("src_endpoint"))),
        dedup_key=key,
        count=count(finding.get("count")),
        drill=_is_sample(finding, title),
        raw_ref=metadata_uid or uid,
        labels=_labels(seq(finding.get("resources"))),
        attacks=_attacks(seq(info.get("attacks"))),
        observables=_observables(seq(finding.get("observables"))),
        securityhub=FindingRef(api="ocsf", id=metadata_uid, account=account, region=region)
        if metadata_uid
        else None,
    )


def _is_guardduty_type(value: str) -> bool:
    """``ThreatPurpose:ResourceType/ThreatFamily…``: GuardDuty's finding type syntax."""
    head, colon, rest = value.partition(":")
    return bool(head and colon and "/" in rest and " " not in head)


def _product(product: dict[str, Any]) -> str:
    name = first(product.get("name"))
    if name is None:
        uid = first(product.get("uid"))
        name = uid.rsplit("/", 1)[-1] if uid else None
    if name is None:
        return "Security Hub"
    return GUARDDUTY if name.lower() == GUARDDUTY.lower() else name


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _severity(finding: dict[str, Any]) -> tuple[Severity, str]:
    level = _SEVERITIES.get(_integer(finding.get("severity_id")) or 0)
    caption = scalar(finding.get("severity")) or ""
    if level is not None:
        return level, caption or str(finding.get("severity_id"))
    label = caption.upper()
    return (Severity(label), caption) if label in Severity.__members__ else (Severity.MEDIUM, caption)


def _resources(entries: list[Any], region: str) -> list[Resource]:
    found = []
    for entry in (obj(item) for item in entries):
        uid = first(entry.get("uid"), entry.get("name"))
        if uid is None:
            continue
        kind = scalar(entry.get("type")) or "Other"
        found.append(
            Resource(
                type=_RESOURCE_TYPES.get(kind, kind),
                id=short_id(uid),
                arn=uid if uid.startswith("arn:") else None,
                region=first(entry.get("region")) or region,
                details={
                    key: value
                    for key, value in {
                        "name": scalar(entry.get("name")),
                        "owner": scalar(obj(obj(entry.get("owner")).get("account")).get("uid")),
                    }.items()
                    if value
                },
            )
        )
    return found


def _actor(actor: dict[str, Any], endpoint: dict[str, Any]) -> Actor | None:
    user = obj(actor.get("user"))
    found = Actor(
        principal=first(user.get("uid")),
        principal_type=first(user.get("type")),
        user_name=first(user.get("name")),
        access_key_id=first(user.get("credential_uid")),
        ip=first(endpoint.get("ip")),
    )
    return found if found.model_dump(exclude_none=True) else None


def _attacks(entries: list[Any]) -> tuple[Attack, ...]:
    found = []
    for entry in (obj(item) for item in entries):
        tactic, technique = (
            obj(entry.get("tactic")),
            obj(entry.get("sub_technique") or entry.get("technique")),
        )
        named_tactic = " ".join(p for p in (first(tactic.get("uid")), first(tactic.get("name"))) if p)
        named_technique = " - ".join(
            p for p in (first(technique.get("uid")), first(technique.get("name"))) if p
        )
        if named_tactic or named_technique:
            found.append(Attack(tactic=named_tactic or None, technique=named_technique or None))
    return tuple(dict.fromkeys(found))


def _named(item: dict[str, Any], separator: str) -> str:
    return separator.join(part for part in (first(item.get("uid")), first(item.get("name"))) if part)


def _observables(entries: list[Any]) -> tuple[Observable, ...]:
    found = []
    for entry in (obj(item) for item in entries):
        kind = _OBSERVABLE_TYPES.get(_integer(entry.get("type_id")) or 0)
        value = scalar(entry.get("value"))
        if kind and value:
            found.append(Observable(type=kind, value=value, name=scalar(entry.get("name")) or ""))
    return tuple(found)


def _labels(entries: list[Any]) -> dict[str, str]:
    role = _ROLES.get(_integer(obj(next(iter(entries), None)).get("role_id")) or 0)
    return {"resource_role": role} if role else {}


def _is_sample(finding: dict[str, Any], title: str) -> bool:
    """GuardDuty's sample findings carry ``sample: true`` (kept under ``unmapped`` in OCSF) and a
    ``[SAMPLE]`` title."""
    return guardduty.is_sample(obj(finding.get("unmapped"))) or title.upper().startswith("[SAMPLE]")
