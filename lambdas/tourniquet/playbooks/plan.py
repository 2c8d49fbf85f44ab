"""PlanResponse: the playbook's actions, adjusted by what the diagnostics found and the guardrails."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import datetime, timedelta

from tourniquet.intake.model import Alert, Resource
from tourniquet.playbooks.catalog import catalog, select
from tourniquet.scope import alert_scope, refusal
from tourniquet.settings import Settings
from tourniquet.state import ApprovalWaits, Diagnostic, Plan, Target


def make_plan(alert: Alert, diagnostics: Sequence[Diagnostic], settings: Settings) -> Plan:
    playbook = select(alert, catalog(settings.playbooks_file))
    automatic = [a.name for a in playbook.actions if a.mode == "auto"]
    approval = [a.name for a in playbook.actions if a.mode == "approval"]
    notes: list[str] = []

    instance = next((d for d in diagnostics if d.check == "ec2_instance"), None)
    if instance and instance.status == "not_found":
        notes.append("The instance no longer exists: nothing to contain.")
        automatic, approval = [], []
    elif instance and instance.summary.get("protected"):
        added = _recent_protection(alert, diagnostics, settings)
        if added is not None and (automatic or approval):
            # Anyone who can tag can make a resource immune: a protection set just before the finding may be
            # the attacker's. Nothing is skipped silently; a person decides, and lifting it comes first.
            notes.append(
                f"The instance carries {settings.protected_tag_key}, added {added}, within "
                f"{settings.protection_window_hours} h before the finding: a protection that recent is "
                "suspicious, so every action waits for approval, lifting the protection first."
            )
            automatic, approval = [], [LIFT_PROTECTION, *automatic, *approval]
        else:
            # Guardrail: a protected resource is never changed by Tourniquet (its role is denied them too);
            # the incident is raised for a person to handle by hand.
            notes.append(
                f"The instance carries {settings.protected_tag_key}: alert only, nothing is changed."
            )
            automatic, approval = [], []

    resource = alert.primary_resource
    profile = next((d for d in diagnostics if d.check == "iam_principal"), None)
    key_target = resource is not None and resource.type == "AwsIamAccessKey"
    if key_target and profile and profile.status == "not_found" and (automatic or approval):
        # The key's user or role was deleted: there is nothing left to contain.
        kind, name = profile.summary.get("kind", "principal"), profile.summary.get("name")
        notes.append(f"The IAM {kind} {name} no longer exists: nothing to contain.")
        automatic, approval = [], []
    refused = refusal(alert_scope(alert), settings)
    if refused and (automatic or approval):
        # Guardrail: an account or region outside the scope (or never acted in) is raised for a person.
        notes.append(f"{refused[0].upper()}{refused[1:]}: alert only, nothing is changed.")
        automatic, approval = [], []
    principal = _principal(resource) if resource else {}
    automatic, approval = _for_principal(principal.get("principal_type"), automatic, approval, notes)
    protected = _protected_principal(alert, principal, diagnostics, settings.protected_principals)
    if protected and automatic:
        # Guardrail: break-glass, CI and deploy principals are never contained without a person deciding.
        notes.append(f"{protected} is a protected principal: every action waits for approval.")
        automatic, approval = [], automatic + approval

    return Plan(
        playbook=playbook.id,
        title=playbook.title,
        runbook=playbook.runbook,
        next_steps=playbook.next_steps,
        approvers=playbook.approvers,
        target=Target(
            type=resource.type if resource else None,
            id=resource.id if resource else None,
            account=alert.account,
            region=resource.region if resource and resource.region else alert.region,
            **principal,
        ),
        automatic=tuple(automatic),
        approval=tuple(approval),
        approval_required=bool(approval),
        approval_timeout_seconds=settings.approval_timeout_seconds,
        approval_waits=approval_waits(settings.approval_timeout_seconds),
        dry_run=settings.dry_run,
        notes=tuple(notes),
    )


# The action that takes a suspicious protection off the instance, with a person's approval.
LIFT_PROTECTION = "lift_protection"


def _recent_protection(alert: Alert, diagnostics: Sequence[Diagnostic], settings: Settings) -> str | None:
    """When and by whom the protected tag was added, if its last change before the finding was an addition
    within the window; None when it is older, or its history could not be read."""
    trail = next((d for d in diagnostics if d.check == "cloudtrail" and d.status == "ok"), None)
    changes = trail.summary.get("protected_tag_changes") if trail else None
    if not changes or not isinstance(changes[0], dict) or changes[0].get("change") != "added":
        return None
    latest = changes[0]
    try:
        added_at = datetime.fromisoformat(str(latest.get("at")))
        found_at = datetime.fromisoformat(alert.first_seen or alert.time)
    except ValueError:
        return None
    if found_at - added_at > timedelta(hours=settings.protection_window_hours):
        return None
    return f"{latest.get('at')} by {latest.get('by') or 'an unknown principal'}"


# Approvers are reminded, and the escalation topic paged, when this share of the approval time has passed.
REMINDER_AT = 0.75


def approval_waits(timeout_seconds: int) -> ApprovalWaits:
    """The approval wait in two parts, split at the reminder; together they are the whole timeout."""
    before = max(int(timeout_seconds * REMINDER_AT), 1)
    return ApprovalWaits(before_reminder=before, after_reminder=max(timeout_seconds - before, 1))


# Actions that only make sense on an IAM user, and actions that hit every holder of an assumed role.
_USER_ONLY = frozenset({"deactivate_access_key", "attach_deny_policy", "disable_console_login"})
_ROLE_WIDE = frozenset({"revoke_sessions"})


def _for_principal(
    principal_type: str | None, automatic: list[str], approval: list[str], notes: list[str]
) -> tuple[list[str], list[str]]:
    """Guardrails by whose credentials these are: root is never touched, a role's users need a person."""
    if principal_type == "Root":
        notes.append("The credentials are the account root's: alert and escalate only, nothing is changed.")
        return [], []
    if principal_type == "AssumedRole":
        dropped = [a for a in automatic + approval if a in _USER_ONLY]
        if dropped:
            notes.append(f"Temporary role credentials: {', '.join(dropped)} do not apply.")
        wide = [a for a in automatic if a in _ROLE_WIDE]
        if wide:
            notes.append(f"{', '.join(wide)} affects every holder of the role: it waits for approval.")
        automatic = [a for a in automatic if a not in _USER_ONLY and a not in _ROLE_WIDE]
        approval = [a for a in approval if a not in _USER_ONLY] + wide
    return automatic, approval


def _protected_principal(
    alert: Alert, principal: dict[str, str], diagnostics: Sequence[Diagnostic], patterns: tuple[str, ...]
) -> str | None:
    """The first principal the alert involves that a configured pattern (name or ARN, globs) names."""
    if not patterns:
        return None
    candidates = [principal.get("user_name"), principal.get("role_name")]
    if alert.actor is not None:
        candidates += [alert.actor.principal, alert.actor.user_name]
    resource = alert.primary_resource
    if resource is not None:
        candidates += [resource.arn, resource.details.get("instance_profile")]
    for diagnostic in diagnostics:
        if diagnostic.check == "iam_principal":
            candidates += [diagnostic.summary.get("name"), diagnostic.summary.get("arn")]
    for candidate in filter(None, candidates):
        if any(fnmatch.fnmatchcase(str(candidate).lower(), pattern.lower()) for pattern in patterns):
            return str(candidate)
    return None


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
