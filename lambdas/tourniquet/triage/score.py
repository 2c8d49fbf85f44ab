"""The deterministic verdict: a risk score from the finding, the diagnostics and the playbook, in which every
point names its reason.

=========================================================  ===========
what                                                       points
=========================================================  ===========
the source's severity (informational … critical)           0 to 45
an ATT&CK tactic of an attacker already acting             +15
  (command and control, exfiltration, impact, credential
  access, privilege escalation, defense evasion,
  persistence, execution); initial access                  +10
a GuardDuty attack sequence                                +20
the resource acted itself / was only probed or             +5 / -10
  brute-forced from outside
seen ten times or more                                     +5
the actor called from networks it had not used before      +10
calls the actor was denied                                 +10
the principal holds administrator-level policies           +15
the instance has a public IP address                       +5
the playbook contains this kind of incident                +5
=========================================================  ===========

A person must look (``analyst_action_required``) when the risk reaches :data:`ACTION_THRESHOLD`, for an attack
sequence, or when a threat detection (GuardDuty, Security Hub) is of high severity and nothing is contained
automatically; a monitoring alert's severity is an operational one, so only its risk counts. A drill (a
sample finding) is scored as the real finding would be, so that it exercises the triage, and never asks for a
person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tourniquet.intake.model import Alert, Severity
from tourniquet.state import Diagnostic, Evidence, Indicator, Plan, RiskPoint, Verdict
from tourniquet.triage import attack

ACTION_THRESHOLD = 50
SEVERITY_POINTS = {
    Severity.INFORMATIONAL: 0,
    Severity.LOW: 8,
    Severity.MEDIUM: 20,
    Severity.HIGH: 35,
    Severity.CRITICAL: 45,
}
ACTING_TACTICS = frozenset({"TA0011", "TA0010", "TA0040", "TA0006", "TA0004", "TA0005", "TA0003", "TA0002"})
INITIAL_ACCESS = "TA0001"
RECONNAISSANCE = "TA0043"
# Sources whose findings come from threat detection; the others' severity is an operational one.
SECURITY_SOURCES = frozenset({"guardduty", "securityhub"})
ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"}
)
_MAX_EVIDENCE = 12
_EVIDENCE_TEXT = 600


def verdict(alert: Alert, diagnostics: Sequence[Diagnostic], plan: Plan) -> Verdict:
    checks = {d.check: d for d in diagnostics}
    tactics, techniques = attack.tactics(alert), attack.techniques(alert)
    reasons = _reasons(alert, checks, plan, {t.uid for t in tactics})
    score = max(0, min(100, sum(r.points for r in reasons)))
    attention = _attention(alert, plan, score)
    required = bool(attention) and not alert.drill
    return Verdict(
        summary=_summary(alert, plan, score, reasons, required),
        severity=alert.severity,
        risk_score=score,
        reasons=tuple(reasons),
        tactics=tactics,
        techniques=techniques,
        iocs=_iocs(alert, checks),
        evidence=_evidence(alert, diagnostics, plan),
        next_steps=_next_steps(plan, checks),
        analyst_action_required=required,
        attention=tuple(attention) if required else (),
    )


def _reasons(
    alert: Alert, checks: dict[str, Diagnostic], plan: Plan, tactic_ids: set[str]
) -> list[RiskPoint]:
    reasons = [
        RiskPoint(
            points=SEVERITY_POINTS[alert.severity],
            reason=f"severity {alert.severity.value} as {alert.product} rates it"
            + (f" ({alert.severity_raw})" if alert.severity_raw else ""),
        )
    ]
    acting = sorted(tactic_ids & ACTING_TACTICS)
    if acting:
        names = ", ".join(attack.TACTICS[uid] for uid in acting)
        reasons.append(RiskPoint(points=15, reason=f"ATT&CK tactic of an attacker already acting: {names}"))
    elif INITIAL_ACCESS in tactic_ids:
        reasons.append(RiskPoint(points=10, reason="ATT&CK tactic Initial Access: someone got in or tried"))
    if alert.type.startswith("AttackSequence:"):
        reasons.append(
            RiskPoint(points=20, reason="GuardDuty correlated several signals into an attack sequence")
        )
    role = alert.labels.get("resource_role", "").upper()
    if role == "ACTOR":
        reasons.append(RiskPoint(points=5, reason="the resource itself acted (resource role ACTOR)"))
    elif role == "TARGET" and (RECONNAISSANCE in tactic_ids or "BruteForce" in alert.type):
        reasons.append(
            RiskPoint(points=-10, reason="the resource was only probed or brute-forced from outside (TARGET)")
        )
    if alert.count >= 10:
        reasons.append(RiskPoint(points=5, reason=f"seen {alert.count} times"))
    reasons += _diagnostic_reasons(checks)
    if plan.automatic or plan.approval:
        reasons.append(
            RiskPoint(points=5, reason=f"the playbook {plan.playbook} contains this kind of incident")
        )
    return reasons


def _diagnostic_reasons(checks: dict[str, Diagnostic]) -> list[RiskPoint]:
    reasons = []
    actor = _ok(checks, "cloudtrail_actor")
    new_networks = _strings(actor.get("new_source_ips"))
    if new_networks:
        reasons.append(
            RiskPoint(
                points=10,
                reason=f"the actor called from {len(new_networks)} network(s) unused in the day before",
            )
        )
    denied = sum(
        int(count)
        for code, count in (actor.get("errors") or {}).items()
        if code in DENIED_CODES and isinstance(count, int)
    )
    if denied:
        reasons.append(RiskPoint(points=10, reason=f"{denied} call(s) by the actor were denied"))
    principal = _ok(checks, "iam_principal")
    policies = _strings(principal.get("attached_policies"))
    broad = sorted({name for arn in policies for name in ADMIN_POLICIES if arn.endswith(f"/{name}")})
    if broad:
        reasons.append(
            RiskPoint(
                points=15, reason=f"the principal holds administrator-level policies: {', '.join(broad)}"
            )
        )
    if _ok(checks, "ec2_instance").get("public_ip"):
        reasons.append(RiskPoint(points=5, reason="the instance has a public IP address"))
    return reasons


def _attention(alert: Alert, plan: Plan, score: int) -> list[str]:
    why = []
    if score >= ACTION_THRESHOLD:
        why.append(f"risk {score} is at or above {ACTION_THRESHOLD}")
    if alert.type.startswith("AttackSequence:"):
        why.append("an attack sequence: several signals point to one actor")
    if alert.source in SECURITY_SOURCES and alert.severity.rank >= Severity.HIGH.rank and not plan.automatic:
        why.append(f"severity {alert.severity.value} and nothing is contained automatically")
    return why


def _summary(alert: Alert, plan: Plan, score: int, reasons: list[RiskPoint], required: bool) -> str:
    subject = alert.primary_resource.id if alert.primary_resource else alert.account
    top = max(reasons, key=lambda r: r.points)
    look = "an analyst must look" if required else "no analyst action required"
    drill = " (drill)" if alert.drill else ""
    return (
        f"{alert.severity.value} {alert.type} on {subject}{drill}: risk {score}/100, mostly for "
        f"{top.reason}; playbook {plan.playbook}; {look}."
    )[:1200]


def _iocs(alert: Alert, checks: dict[str, Diagnostic]) -> tuple[Indicator, ...]:
    found: list[Indicator] = []
    actor = alert.actor
    if actor is not None:
        if actor.ip:
            found.append(Indicator(type="ip", value=actor.ip))
        if actor.access_key_id:
            found.append(Indicator(type="access_key", value=actor.access_key_id))
        if actor.principal or actor.user_name:
            found.append(Indicator(type="principal", value=str(actor.user_name or actor.principal)))
    found += [Indicator(type=o.type, value=o.value) for o in alert.observables]
    found += [
        Indicator(type="ip", value=ip)
        for ip in _strings(_ok(checks, "cloudtrail_actor").get("new_source_ips"))
    ]
    return tuple(dict.fromkeys(found))


def _evidence(alert: Alert, diagnostics: Sequence[Diagnostic], plan: Plan) -> tuple[Evidence, ...]:
    resource = alert.primary_resource
    texts = [
        (
            "finding",
            f"{alert.product} {alert.type}, severity {alert.severity.value}"
            + (f" on {resource.type} {resource.id}" if resource else "")
            + f" in account {alert.account}, {alert.region}; seen {alert.count} time(s)",
        )
    ]
    for diagnostic in diagnostics:
        if diagnostic.status == "not_applicable":
            continue
        headline = diagnostic.summary.get("headline")
        detail = headline if isinstance(headline, str) else diagnostic.error or diagnostic.status
        texts.append((diagnostic.check, f"{diagnostic.status}: {detail}"))
    texts += [("plan", note) for note in plan.notes]
    return tuple(
        Evidence(id=f"E{n}", source=source, text=text[:_EVIDENCE_TEXT])
        for n, (source, text) in enumerate(texts[:_MAX_EVIDENCE], 1)
    )


def _next_steps(plan: Plan, checks: dict[str, Diagnostic]) -> tuple[str, ...]:
    steps = list(plan.next_steps)
    actor = _ok(checks, "cloudtrail_actor")
    new_networks = _strings(actor.get("new_source_ips"))
    if new_networks:
        steps.append(
            f"Ask the principal's owner whether the calls from {', '.join(new_networks[:3])} were theirs."
        )
    if any(code in DENIED_CODES for code in actor.get("errors") or {}):
        steps.append("Read the denied calls: they show what the actor tried beyond its permissions.")
    return tuple(steps)


def _ok(checks: dict[str, Diagnostic], name: str) -> dict[str, Any]:
    found = checks.get(name)
    return found.summary if found is not None and found.status == "ok" else {}


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list | tuple) else []
