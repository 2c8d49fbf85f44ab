"""MITRE ATT&CK for an alert: from the threat purpose in a GuardDuty finding type (``ThreatPurpose:Resource/
Family``), from well-known finding families, and from what the source names itself (attack sequences and
OCSF findings carry their tactics and techniques)."""

from __future__ import annotations

import re

from tourniquet.intake.model import Alert
from tourniquet.state import AttackRef

TACTICS = {
    "TA0043": "Reconnaissance",
    "TA0042": "Resource Development",
    "TA0001": "Initial Access",
    "TA0002": "Execution",
    "TA0003": "Persistence",
    "TA0004": "Privilege Escalation",
    "TA0005": "Defense Evasion",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0009": "Collection",
    "TA0011": "Command and Control",
    "TA0010": "Exfiltration",
    "TA0040": "Impact",
}
_TACTIC_IDS = {name.lower(): uid for uid, name in TACTICS.items()}

# GuardDuty's threat purposes (the first part of a finding type) and the tactic each stands for. Behavior,
# Pentest and Policy name no tactic of their own.
THREAT_PURPOSES = {
    "backdoor": "TA0011",
    "credentialaccess": "TA0006",
    "cryptocurrency": "TA0040",
    "defenseevasion": "TA0005",
    "discovery": "TA0007",
    "execution": "TA0002",
    "exfiltration": "TA0010",
    "impact": "TA0040",
    "initialaccess": "TA0001",
    "persistence": "TA0003",
    "privilegeescalation": "TA0004",
    "recon": "TA0043",
    "stealth": "TA0005",
    "trojan": "TA0011",
    "unauthorizedaccess": "TA0001",
}

# Finding families (a part of the type) and the technique they describe, most specific first.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("InstanceCredentialExfiltration", "T1552.005", "Unsecured Credentials: Cloud Instance Metadata API"),
    ("CloudTrailLoggingDisabled", "T1562.008", "Impair Defenses: Disable or Modify Cloud Logs"),
    ("ServerAccessLoggingDisabled", "T1562.008", "Impair Defenses: Disable or Modify Cloud Logs"),
    ("BruteForce", "T1110", "Brute Force"),
    ("CryptoCurrency", "T1496", "Resource Hijacking"),
    ("BitcoinTool", "T1496", "Resource Hijacking"),
    ("DNSDataExfiltration", "T1048", "Exfiltration Over Alternative Protocol"),
    ("C&CActivity", "T1071", "Application Layer Protocol"),
    ("DGADomainRequest", "T1568.002", "Dynamic Resolution: Domain Generation Algorithms"),
    ("PortProbe", "T1595", "Active Scanning"),
    ("PortScan", "T1046", "Network Service Discovery"),
    ("Tor", "T1090.003", "Proxy: Multi-hop Proxy"),
    ("DenialOfService", "T1498", "Network Denial of Service"),
    ("ContainerMountsHostDirectory", "T1611", "Escape to Host"),
    ("AnomalousBehavior", "T1078.004", "Valid Accounts: Cloud Accounts"),
    ("MaliciousIPCaller", "T1078.004", "Valid Accounts: Cloud Accounts"),
)

_TECHNIQUE = re.compile(r"^(T\d{4}(?:\.\d{3})?)\s*(?:-\s*)?(.*)$")
_TACTIC = re.compile(r"^(TA\d{4})\s*(.*)$")


def tactics(alert: Alert) -> tuple[AttackRef, ...]:
    """The tactics of the finding type's threat purpose and those the source names, each once."""
    found: list[AttackRef] = []
    purpose = alert.type.split(":", 1)[0].replace("-", "").lower() if ":" in alert.type else ""
    if alert.product == "GuardDuty" and purpose in THREAT_PURPOSES:
        uid = THREAT_PURPOSES[purpose]
        found.append(AttackRef(uid=uid, name=TACTICS[uid]))
    for attack in alert.attacks:
        if attack.tactic and (ref := _tactic(attack.tactic)) is not None:
            found.append(ref)
    return tuple(dict.fromkeys(found))


def techniques(alert: Alert) -> tuple[AttackRef, ...]:
    """The technique of a well-known finding family and those the source names, each once."""
    found: list[AttackRef] = []
    if alert.product == "GuardDuty":
        for family, uid, name in FAMILIES:
            if family.lower() in alert.type.lower():
                found.append(AttackRef(uid=uid, name=name))
                break
    for attack in alert.attacks:
        if attack.technique and (match := _TECHNIQUE.match(attack.technique.strip())):
            found.append(AttackRef(uid=match.group(1), name=(match.group(2) or match.group(1))[:120]))
    return tuple(dict.fromkeys(found))


def _tactic(value: str) -> AttackRef | None:
    """``TA0011 Command and Control``, ``TA0011`` or ``Command and Control``."""
    text = value.strip()
    match = _TACTIC.match(text)
    if match is not None:
        uid = match.group(1)
        return AttackRef(uid=uid, name=TACTICS.get(uid, match.group(2) or uid))
    uid = _TACTIC_IDS.get(text.lower())
    return AttackRef(uid=uid, name=TACTICS[uid]) if uid else None
