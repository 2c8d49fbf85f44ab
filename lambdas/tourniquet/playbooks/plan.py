"""PlanResponse: the playbook's actions, adjusted by what the diagnostics found and the guardrails."""

from __future__ import annotations

from typing import Any

from tourniquet.intake.model import Alert, Resource
from tourniquet.playbooks.catalog import select
from tourniquet.settings import Settings


def make_plan(alert: Alert, diagnostics: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    playbook = select(alert)
    automatic = [a.name for a in playbook.actions if a.mode == "auto"]
    approval = [a.name for a in playbook.actions if a.mode == "approval"]
    notes: list[str] = []

    instance = next((d for d in diagnostics if d.get("check") == "ec2_instance"), None)
    if instance and instance.get("status") == "not_found":
        notes.append("The instance no longer exists: nothing to contain.")
        automatic, approval = [], []
    elif instance and (instance.get("summary") or {}).get("protected"):
        # Guardrail: a protected resource is never changed by Tourniquet (its role is denied them too);
        # the incident is raised for a person to handle by hand.
        notes.append(f"The instance carries {settings.protected_tag_key}: alert only, nothing is changed.")
        automatic, approval = [], []

    resource = alert.primary_resource
    return {
        "playbook": playbook.id,
        "title": playbook.title,
        "runbook": playbook.runbook,
        "target": {
            "type": resource.type if resource else None,
            "id": resource.id if resource else None,
            "account": alert.account,
            "region": resource.region if resource and resource.region else alert.region,
            **(_principal(resource) if resource else {}),
        },
        "automatic": automatic,
        "approval": approval,
        "approval_required": bool(approval),
        "approval_timeout_seconds": settings.approval_timeout_seconds,
        "approval_waits": approval_waits(settings.approval_timeout_seconds),
        "dry_run": settings.dry_run,
        "notes": notes,
    }


# Approvers are reminded, and the escalation topic paged, when this share of the approval time has passed.
REMINDER_AT = 0.75


def approval_waits(timeout_seconds: int) -> dict[str, int]:
    """The approval wait in two parts, split at the reminder; together they are the whole timeout."""
    before = max(int(timeout_seconds * REMINDER_AT), 1)
    return {"before_reminder": before, "after_reminder": max(timeout_seconds - before, 1)}


def _principal(resource: Resource) -> dict[str, str]:
    """Who an access key belongs to, so that containment can find the user or the assumed role."""
    if resource.type != "AwsIamAccessKey":
        return {}
    found = {
        "user_name": resource.details.get("user_name"),
        "principal_type": resource.details.get("user_type"),
    }
    if found["principal_type"] == "AssumedRole":
        # For temporary credentials GuardDuty's userName is the role's name.
        found["role_name"] = found["user_name"]
    return {key: value for key, value in found.items() if value}
