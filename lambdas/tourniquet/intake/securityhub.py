"""Security Hub findings in the ASFF: "Security Hub Findings - Imported" and "- Custom Action" events, and the
GetFindings form (``{"Findings": [...]}``).

A GuardDuty finding that arrives through Security Hub normalizes to the native finding's type, subject
resource, finding id and dedup key, so both deliveries fold into one incident. Security Hub writes the
GuardDuty type into ``Types`` with its ``/`` turned into ``-`` (``TTPs/Command and Control/
CryptoCurrency:EC2-BitcoinTool.B!DNS``) and keeps GuardDuty's own fields under ``ProductFields["aws/guardduty/
service/…"]``. Findings that are resolved, suppressed, archived or passing open nothing.
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
    flag,
    from_label,
    from_normalized,
    from_score,
    invalid,
    join,
    number,
    obj,
    optional_time,
    parse_arn,
    scalar,
    seq,
    short_id,
    subject_rank,
    text,
    time_or_now,
)
from tourniquet.intake.model import Actor, FindingRef, Observable, ObservableType, Resource, Severity
from tourniquet.state import Ignored, Resolved

GUARDDUTY = "GuardDuty"
_GD = "aws/guardduty/service/"


def guardduty_type(types: list[Any]) -> str | None:
    """The GuardDuty finding type inside ASFF ``Types``: ``…/Trojan:EC2-DGADomainRequest.B`` →
    ``Trojan:EC2/DGADomainRequest.B`` (Security Hub replaces the type's one ``/`` with ``-``)."""
    for entry in types:
        found = scalar(entry)
        if found is None:
            continue
        head, colon, rest = found.rsplit("/", 1)[-1].partition(":")
        affected, dash, family = rest.partition("-")
        if head and colon and affected and dash and family:
            return f"{head}:{affected}/{family}"
    return None


def parse_finding(
    finding: Any,
    *,
    at: str,
    account: str | None = None,
    region: str | None = None,
    custom_action: str | None = None,
) -> Outcome:
    """One ASFF finding; ``account`` and ``region`` fill gaps from the envelope."""
    if not isinstance(finding, dict):
        raise invalid(at, "expected an ASFF finding object")
    fields = obj(finding.get("ProductFields"))
    workflow = (first(obj(finding.get("Workflow")).get("Status"), finding.get("WorkflowState")) or "").upper()
    compliance = (first(obj(finding.get("Compliance")).get("Status")) or "").upper()
    if (first(finding.get("RecordState")) or "").upper() == "ARCHIVED" or flag(fields.get(f"{_GD}archived")):
        return Ignored(source="securityhub", reason="archived finding: no longer active in Security Hub")
    if workflow == "SUPPRESSED":
        return Ignored(
            source="securityhub", reason="suppressed finding: marked as not actionable in Security Hub"
        )
    if compliance == "NOT_AVAILABLE":
        return Ignored(source="securityhub", reason="control check not available: the check could not run")

    raw_id = text(finding.get("Id"), join(at, "Id"))
    product = _product(finding, fields)
    is_guardduty = product == GUARDDUTY
    types = [*seq(finding.get("Types")), *seq(obj(finding.get("FindingProviderFields")).get("Types"))]
    gd_type = guardduty_type(types) if is_guardduty else None
    finding_type = gd_type or text(_generic_type(finding, fields, types), join(at, "GeneratorId"))
    account = text(first(finding.get("AwsAccountId"), account), join(at, "AwsAccountId"))
    region = text(
        first(finding.get("Region"), _arn_region(raw_id), _arn_region(finding.get("ProductArn")), region),
        join(at, "Region"),
    )
    finding_id = raw_id.rsplit("/finding/", 1)[-1] if is_guardduty and "/finding/" in raw_id else raw_id
    resources = sorted(_resources(seq(finding.get("Resources")), region), key=lambda r: subject_rank(r.type))
    sequence = finding_type.startswith(f"{guardduty.ATTACK_SEQUENCE}:")
    subject = finding_id if sequence or not resources else resources[0].id
    key = dedup_key(account, region, finding_type, subject)
    title = clip(first(finding.get("Title")) or finding_type, TITLE_LIMIT)
    last_seen = time_or_now(
        fields.get(f"{_GD}eventLastSeen"),
        finding.get("LastObservedAt"),
        finding.get("UpdatedAt"),
        finding.get("CreatedAt"),
    )

    if workflow == "RESOLVED" or compliance == "PASSED":
        reason = "control passed" if compliance == "PASSED" else "resolved in Security Hub"
        return Resolved(
            source="securityhub",
            dedup_key=key,
            finding_id=finding_id,
            title=title,
            reason=reason,
            time=last_seen,
        )

    level, raw_severity = _severity(finding, is_guardduty)
    return build(
        source="securityhub",
        product=product,
        finding_id=finding_id,
        type=finding_type,
        category=finding_type.split(":", 1)[0] if gd_type else _category(types, product),
        severity=level,
        severity_raw=raw_severity,
        title=title,
        description=clip(scalar(finding.get("Description"), DESCRIPTION_LIMIT) or "", DESCRIPTION_LIMIT),
        account=account,
        region=region,
        time=last_seen,
        first_seen=optional_time(
            finding.get("FirstObservedAt"), fields.get(f"{_GD}eventFirstSeen"), finding.get("CreatedAt")
        ),
        resources=tuple(resources),
        actor=_actor(finding, fields, resources),
        dedup_key=key,
        count=count(fields.get(f"{_GD}count")),
        drill=flag(finding.get("Sample")) or flag(fields.get(f"{_GD}additionalInfo/sample")),
        raw_ref=raw_id if is_guardduty else first(fields.get("aws/securityhub/FindingId"), raw_id),
        labels=_labels(finding, fields, custom_action),
        observables=_indicators(finding),
        securityhub=_ref(raw_id, finding.get("ProductArn"), account, region),
    )


def _ref(finding_id: str, product_arn: Any, account: str, region: str) -> FindingRef | None:
    product = scalar(product_arn, 1024)
    if product is None:
        return None
    return FindingRef(api="asff", id=finding_id, product=product, account=account, region=region)


_INDICATOR_TYPES: dict[str, ObservableType] = {
    "IPV4_ADDRESS": "ip",
    "IPV6_ADDRESS": "ip",
    "DOMAIN": "domain",
    "URL": "url",
    "HASH_MD5": "hash",
    "HASH_SHA1": "hash",
    "HASH_SHA256": "hash",
    "HASH_SHA512": "hash",
    "PROCESS": "process",
}


def _indicators(finding: dict[str, Any]) -> tuple[Observable, ...]:
    """ASFF threat intelligence indicators and the network peer, as observables."""
    found = []
    for index, item in enumerate(obj(entry) for entry in seq(finding.get("ThreatIntelIndicators"))):
        kind, value = (
            _INDICATOR_TYPES.get((scalar(item.get("Type")) or "").upper()),
            scalar(item.get("Value")),
        )
        if kind and value:
            found.append(Observable(type=kind, value=value, name=f"ThreatIntelIndicators[{index}].Value"))
    network = obj(finding.get("Network"))
    if scalar(network.get("Direction")) == "OUT" and (peer := scalar(network.get("DestinationIpV4"))):
        found.append(Observable(type="ip", value=peer, name="Network.DestinationIpV4"))
    return tuple(found)


def _product(finding: dict[str, Any], fields: dict[str, Any]) -> str:
    arn = parse_arn(finding.get("ProductArn"))
    from_arn = arn.resource.rsplit("/", 1)[-1] if arn else None
    name = first(finding.get("ProductName"), fields.get("aws/securityhub/ProductName"), from_arn)
    if name is None:
        return "Security Hub"
    return GUARDDUTY if name.lower() == GUARDDUTY.lower() else name


def _generic_type(finding: dict[str, Any], fields: dict[str, Any], types: list[Any]) -> str | None:
    """What identifies the problem for other products: the control, rule, vulnerability or generator."""
    vulnerability = obj(next(iter(seq(finding.get("Vulnerabilities"))), None))
    return first(
        obj(finding.get("Compliance")).get("SecurityControlId"),
        fields.get("ControlId"),
        fields.get("RuleId"),
        vulnerability.get("Id"),
        finding.get("GeneratorId"),
        *types,
    )


def _category(types: list[Any], product: str) -> str:
    """The ASFF namespace and category of the first type (``Software and Configuration Checks/…``)."""
    entry = first(*types)
    return "/".join(entry.split("/")[:2]) if entry else product


def _arn_region(value: Any) -> str | None:
    arn = parse_arn(value)
    return (arn.region or None) if arn else None


def _severity(finding: dict[str, Any], is_guardduty: bool) -> tuple[Severity, str]:
    reported = obj(finding.get("Severity"))
    provided = obj(obj(finding.get("FindingProviderFields")).get("Severity"))
    if is_guardduty:
        # GuardDuty's own score, banded as for the native finding, so both deliveries agree.
        for value in (reported.get("Product"), provided.get("Product"), provided.get("Original")):
            score = number(value)
            if score is not None:
                return from_score(score), str(scalar(value))
    for value in (reported.get("Label"), provided.get("Label")):
        label = from_label(value)
        if label is not None:
            return label, str(scalar(value))
    normalized = number(reported.get("Normalized"))
    if normalized is not None:
        return from_normalized(normalized), str(scalar(reported.get("Normalized")))
    return Severity.MEDIUM, ""


def _resources(entries: list[Any], region: str) -> list[Resource]:
    found = []
    for entry in (obj(item) for item in entries):
        raw_id = scalar(entry.get("Id"))
        if raw_id is None:
            continue
        kind = scalar(entry.get("Type")) or "Other"
        details = obj(entry.get("Details"))
        instance = obj(details.get("AwsEc2Instance"))
        key = obj(details.get("AwsIamAccessKey"))
        extra = {
            "vpc_id": scalar(instance.get("VpcId")),
            "instance_profile": scalar(instance.get("IamInstanceProfileArn")),
            "user_name": first(key.get("PrincipalName"), key.get("UserName")),
            "user_type": scalar(key.get("PrincipalType")),
            "principal_id": scalar(key.get("PrincipalId")),
        }
        found.append(
            Resource(
                type=kind,
                id=short_id(raw_id),
                arn=raw_id if raw_id.startswith("arn:") else None,
                region=first(entry.get("Region")) or region,
                details={name: value for name, value in extra.items() if value},
            )
        )
    return found


def _actor(finding: dict[str, Any], fields: dict[str, Any], resources: list[Resource]) -> Actor | None:
    key = next((resource for resource in resources if resource.type == "AwsIamAccessKey"), None)
    details = key.details if key else {}
    ip = guardduty.acting_ip(guardduty.camel(obj(finding.get("Action")))) or first(
        fields.get(f"{_GD}action/awsApiCallAction/remoteIpDetails/ipAddressV4")
    )
    actor = Actor(
        principal=details.get("principal_id"),
        principal_type=details.get("user_type"),
        user_name=details.get("user_name"),
        access_key_id=key.id if key else None,
        ip=ip,
    )
    return actor if actor.model_dump(exclude_none=True) else None


def _labels(finding: dict[str, Any], fields: dict[str, Any], custom_action: str | None) -> dict[str, str]:
    found = {
        "custom_action": custom_action,
        "resource_role": scalar(fields.get(f"{_GD}resourceRole")),
        "feature": scalar(fields.get(f"{_GD}featureName")),
        "control": scalar(obj(finding.get("Compliance")).get("SecurityControlId")),
    }
    return {key: value for key, value in found.items() if value}
