"""GuardDuty findings, as EventBridge delivers them (``detail`` in camelCase)."""

from __future__ import annotations

from typing import Any

from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import Actor, Alert, Resource, Severity
from tourniquet.intake.common import Ignored, dedup_key, text


def severity(score: float) -> Severity:
    """GuardDuty's documented bands: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.INFORMATIONAL


def parse_finding(finding: dict[str, Any]) -> Alert | Ignored:
    service = finding.get("service") or {}
    if service.get("archived") is True:
        return Ignored("guardduty", "archived finding: suppressed or closed in GuardDuty")

    finding_id = text(finding.get("id"), "detail.id")
    finding_type = text(finding.get("type"), "detail.type")
    account = text(finding.get("accountId"), "detail.accountId")
    region = text(finding.get("region"), "detail.region")
    raw_severity = finding.get("severity")
    try:
        score = float(raw_severity)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidAlert(f"detail.severity: expected a number, got {raw_severity!r}") from exc

    resources = _resources(finding.get("resource") or {}, region)
    primary = resources[0] if resources else None
    additional = service.get("additionalInfo") or {}
    return Alert(
        source="guardduty",
        product="GuardDuty",
        finding_id=finding_id,
        type=finding_type,
        category=finding_type.split(":", 1)[0],
        severity=severity(score),
        severity_raw=str(raw_severity),
        title=str(finding.get("title") or finding_type),
        description=str(finding.get("description") or ""),
        account=account,
        region=region,
        time=str(service.get("eventLastSeen") or finding.get("updatedAt") or finding.get("createdAt") or ""),
        resources=tuple(resources),
        actor=_actor(finding.get("resource") or {}, service),
        dedup_key=dedup_key(account, region, finding_type, primary.id if primary else finding_id),
        count=max(int(service.get("count") or 1), 1),
        drill=additional.get("sample") is True,
        raw_ref=str(finding.get("arn")) if finding.get("arn") else None,
    )


def _resources(resource: dict[str, Any], region: str) -> list[Resource]:
    kind = resource.get("resourceType")
    if kind == "Instance":
        details = resource.get("instanceDetails") or {}
        instance_id = text(details.get("instanceId"), "detail.resource.instanceDetails.instanceId")
        enis = details.get("networkInterfaces") or []
        vpc = next((eni.get("vpcId") for eni in enis if eni.get("vpcId")), None)
        profile = (details.get("iamInstanceProfile") or {}).get("arn")
        extra = {"vpc_id": vpc, "instance_profile": profile, "state": details.get("instanceState")}
        return [
            Resource(
                type="AwsEc2Instance",
                id=instance_id,
                region=region,
                details={k: str(v) for k, v in extra.items() if v},
            )
        ]
    if kind == "AccessKey":
        details = resource.get("accessKeyDetails") or {}
        key_id = text(details.get("accessKeyId"), "detail.resource.accessKeyDetails.accessKeyId")
        return [Resource(type="AwsIamAccessKey", id=key_id, region=region)]
    return []


def _actor(resource: dict[str, Any], service: dict[str, Any]) -> Actor | None:
    key = resource.get("accessKeyDetails") or {}
    action = service.get("action") or {}
    call = action.get("awsApiCallAction") or {}
    ip = ((call.get("remoteIpDetails") or {}).get("ipAddressV4")) or None
    if not key and not ip:
        return None
    return Actor(
        principal=key.get("principalId"),
        principal_type=key.get("userType"),
        user_name=key.get("userName"),
        access_key_id=key.get("accessKeyId"),
        ip=ip,
    )
