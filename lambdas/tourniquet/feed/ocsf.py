"""The SIEM envelope as an OCSF Detection Finding (class 2004), built and validated with py-ocsf-models.

The incident is the finding: ``finding_info.uid`` is the incident id, ``related_events`` names the source's
finding, ``metadata.uid`` is the envelope id (stable per change). What OCSF has no place for (the change, the
verdict's reasons, ``analyst_action_required``) is kept under ``unmapped.tourniquet``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.risk_level_id import RiskLevelID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.account import Account
from py_ocsf_models.objects.account import TypeID as AccountTypeID
from py_ocsf_models.objects.cloud import Cloud
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.mitre_attack import MITREAttack, Tactic, Technique
from py_ocsf_models.objects.observable import Observable
from py_ocsf_models.objects.observable import TypeID as ObservableTypeID
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.related_event import RelatedEvent
from py_ocsf_models.objects.remediation import Remediation
from py_ocsf_models.objects.resource_details import ResourceDetails

from tourniquet.feed.envelope import Change, Envelope
from tourniquet.intake.model import Severity

PRODUCT = Product(name="Tourniquet", vendor_name="Tourniquet")
_ACTIVITY: dict[Change, tuple[ActivityID, DetectionFindingTypeID]] = {
    "opened": (ActivityID.Create, DetectionFindingTypeID.Create),
    "decided": (ActivityID.Update, DetectionFindingTypeID.Update),
    "failed": (ActivityID.Update, DetectionFindingTypeID.Update),
    "closed": (ActivityID.Close, DetectionFindingTypeID.Close),
    "resolved": (ActivityID.Close, DetectionFindingTypeID.Close),
    "released": (ActivityID.Update, DetectionFindingTypeID.Update),
}
_STATUS: dict[Change, StatusID] = {
    "opened": StatusID.New,
    "decided": StatusID.InProgress,
    "failed": StatusID.Other,
    "closed": StatusID.Resolved,
    "resolved": StatusID.Resolved,
    "released": StatusID.Resolved,
}
_SEVERITY = {
    Severity.INFORMATIONAL: SeverityID.Informational,
    Severity.LOW: SeverityID.Low,
    Severity.MEDIUM: SeverityID.Medium,
    Severity.HIGH: SeverityID.High,
    Severity.CRITICAL: SeverityID.Critical,
}
_OBSERVABLE = {
    "ip": ObservableTypeID.IP_Address,
    "domain": ObservableTypeID.Hostname,
    "url": ObservableTypeID.URL_String,
    "hash": ObservableTypeID.Hash,
    "user": ObservableTypeID.User_Name,
    "principal": ObservableTypeID.User_Name,
    "access_key": ObservableTypeID.Other,
    "process": ObservableTypeID.Process_Name,
}


def detection_finding(envelope: Envelope) -> DetectionFinding:
    """The envelope as a validated Detection Finding."""
    finding, verdict = envelope.finding, envelope.verdict
    activity, type_uid = _ACTIVITY[envelope.change]
    severity = _SEVERITY[envelope.severity]
    now = _epoch_ms(envelope.time)
    return DetectionFinding(
        activity_id=activity,
        activity_name=activity.name,
        type_uid=type_uid,
        type_name=f"Detection Finding: {activity.name}",
        severity_id=severity,
        severity=severity.name,
        status_id=_STATUS[envelope.change],
        status=envelope.status,
        time=now,
        time_dt=datetime.fromisoformat(envelope.time.replace("Z", "+00:00")),
        message=verdict.summary if verdict else finding.title,
        metadata=Metadata(
            uid=envelope.id,
            correlation_uid=envelope.incident_id,
            product=PRODUCT,
            labels=[f"change:{envelope.change}"],
        ),
        finding_info=FindingInformation(
            uid=envelope.incident_id,
            title=finding.title,
            desc=verdict.summary if verdict else None,
            types=[finding.type],
            first_seen_time=_epoch_ms(finding.first_seen) if finding.first_seen else None,
            last_seen_time=_epoch_ms(finding.last_seen),
            attacks=_attacks(envelope) or None,
            related_events=[RelatedEvent(uid=finding.finding_id, type=f"{finding.product} finding")],
        ),
        cloud=Cloud(
            provider="AWS",
            region=finding.region,
            account=Account(name=finding.account, uid=finding.account, type_id=AccountTypeID.AWS_Account),
        ),
        resources=[ResourceDetails(type=r.type, uid=r.id, region=finding.region) for r in finding.resources]
        or None,
        observables=[
            Observable(name=f"iocs.{i.type}", type=i.type, type_id=_OBSERVABLE[i.type], value=i.value)
            for i in (verdict.iocs if verdict else ())
        ]
        or None,
        risk_score=verdict.risk_score if verdict else None,
        risk_level_id=_risk_level(verdict.risk_score) if verdict else None,
        risk_details="; ".join(f"{r.points:+d} {r.reason}" for r in verdict.reasons) if verdict else None,
        remediation=Remediation(desc="\n".join(verdict.next_steps))
        if verdict and verdict.next_steps
        else None,
        unmapped={"tourniquet": _unmapped(envelope)},
    )


def body(envelope: Envelope) -> str:
    """The Detection Finding as the SIEM receives it (JSON, without empty fields)."""
    return str(detection_finding(envelope).model_dump_json(exclude_none=True))


def _attacks(envelope: Envelope) -> list[MITREAttack]:
    verdict = envelope.verdict
    if verdict is None:
        return []
    attacks = [MITREAttack(tactic=Tactic(uid=t.uid, name=t.name)) for t in verdict.tactics]
    attacks += [MITREAttack(technique=Technique(uid=t.uid, name=t.name)) for t in verdict.techniques]
    return attacks


def _risk_level(score: int) -> RiskLevelID:
    if score >= 80:
        return RiskLevelID.Critical
    if score >= 60:
        return RiskLevelID.High
    if score >= 40:
        return RiskLevelID.Medium
    return RiskLevelID.Low if score > 0 else RiskLevelID.Info


def _unmapped(envelope: Envelope) -> dict[str, Any]:
    verdict = envelope.verdict
    found: dict[str, Any] = {"schema_version": envelope.schema_version, "change": envelope.change}
    if verdict is not None:
        found["analyst_action_required"] = verdict.analyst_action_required
        found["attention"] = list(verdict.attention)
    if envelope.decision is not None:
        found["decision"] = envelope.decision.model_dump(exclude_none=True)
    if envelope.outcome is not None:
        found["outcome"] = envelope.outcome.model_dump()
    return found


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
