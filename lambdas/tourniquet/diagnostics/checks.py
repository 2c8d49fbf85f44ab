"""The read-only checks the Diagnose state runs.

A check only reads: its result goes on in the workflow state, and the automatic containment step records
every check's result with the plan they led to, in its first write (``tourniquet.containment.runner``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.diagnostics import cloudtrail, ec2, health, iam, metrics
from tourniquet.diagnostics.model import DiagnoseRequest, Finding
from tourniquet.intake.model import UNKNOWN, Alert, Resource
from tourniquet.logs import logger
from tourniquet.scope import alert_scope
from tourniquet.settings import Settings
from tourniquet.state import Diagnostic, DiagnosticStatus

EC2_INSTANCE = "AwsEc2Instance"
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def _finding(status: DiagnosticStatus, headline: str, **summary: Any) -> Finding:
    return Finding(status=status, summary={"headline": headline, **summary})


def _not(status: DiagnosticStatus, reason: str, **summary: Any) -> Finding:
    """A finding that stops at a reason: the reason is its headline."""
    return _finding(status, reason, reason=reason, **summary)


def target_instance(alert: Alert) -> Resource | None:
    return next((resource for resource in alert.resources if resource.type == EC2_INSTANCE), None)


def _readable_instance(alert: Alert) -> Resource | Finding:
    """The alert's instance, or why there is none to look at."""
    instance = target_instance(alert)
    if instance is None:
        return _not("not_applicable", "the alert names no EC2 instance")
    return instance


def check_ec2_instance(alert: Alert, settings: Settings) -> Finding:
    instance = _readable_instance(alert)
    if not isinstance(instance, Resource):
        return instance
    if not _INSTANCE_ID.fullmatch(instance.id):
        return _not("not_found", "not an instance id", instance_id=instance.id)
    summary = ec2.describe(instance.id, settings.protected_tag_key)
    if summary is None:
        return _not("not_found", "EC2 does not know it", instance_id=instance.id)
    return _finding("ok", _instance_headline(summary), **summary)


def check_cloudtrail(alert: Alert, settings: Settings) -> Finding:
    instance = _readable_instance(alert)
    if not isinstance(instance, Resource):
        return instance
    now = store.now()
    # Far enough back to see who last set the protected tag within the configured window.
    lookback = max(cloudtrail.LOOKBACK, timedelta(hours=settings.protection_window_hours))
    span = cloudtrail.window(alert.time, now, lookback)
    events, truncated = cloudtrail.lookup(instance.id, span)
    summary = cloudtrail.summarize(events, span, truncated=truncated)
    changes = cloudtrail.tag_changes(
        events, settings.protected_tag_key, cloudtrail.alert_moment(alert.time, now)
    )
    return _finding(
        "ok", _trail_headline(summary), instance_id=instance.id, protected_tag_changes=changes, **summary
    )


def check_cloudtrail_actor(alert: Alert, settings: Settings) -> Finding:
    actor = alert.actor
    if actor is not None and actor.access_key_id:
        attribute, value = "AccessKeyId", actor.access_key_id
    elif actor is not None and actor.user_name:
        attribute, value = "Username", actor.user_name
    else:
        return _not("not_applicable", "the alert names no actor access key or user name")
    now = store.now()
    span = cloudtrail.window(alert.time, now)
    events, truncated = cloudtrail.lookup(value, span, attribute)
    summary = cloudtrail.summarize(events, span, truncated=truncated)
    # The actor's networks since the finding began, against the day before it (what triage scores).
    since = cloudtrail.alert_moment(alert.first_seen or alert.time, now)
    new, earlier = cloudtrail.new_networks(events, since)
    return _finding(
        "ok",
        _trail_headline(summary),
        actor={"attribute": attribute, "value": value},
        new_source_ips=new,
        baseline_events=earlier,
        **summary,
    )


def check_iam_principal(alert: Alert, settings: Settings) -> Finding:
    principal = iam.principal(alert)
    if principal is None:
        return _not("not_applicable", "the alert names no IAM user or role (root is never profiled)")
    if principal.kind == "user":
        profile = iam.describe_user(principal.name, settings.protected_tag_key, store.now())
    else:
        profile = iam.describe_role(principal.name, settings.protected_tag_key)
    if profile is None:
        return _not(
            "not_found", f"IAM does not know the {principal.kind}", kind=principal.kind, name=principal.name
        )
    return _finding("ok", iam.headline(profile), source=principal.source, **profile)


def check_health(alert: Alert, settings: Settings) -> Finding:
    instance = target_instance(alert)
    if instance is None:
        return _not("not_applicable", "the alert names no EC2 instance")
    region = instance.region or alert.region
    known_region = region if region != UNKNOWN else None
    try:
        events, truncated = health.events(instance.id, known_region)
    except health.HealthUnavailable as exc:
        return _not("unavailable", str(exc), instance_id=instance.id)
    headline = f"{len(events)}{'+' if truncated else ''} open or upcoming AWS Health events"
    if events:
        headline += f": {', '.join(sorted({str(e['type']) for e in events}))}"
    return _finding(
        "ok",
        headline,
        instance_id=instance.id,
        region=known_region,
        count=len(events),
        truncated=truncated,
        events=events,
    )


def check_api_rate(alert: Alert, settings: Settings) -> Finding:
    target = metrics.from_labels(alert.labels)
    if target is None:
        return _not("not_applicable", "the alert's labels name no AWS service and API")
    summary = metrics.read(target, store.now())
    return _finding("ok", metrics.headline(summary), **summary)


def _instance_headline(summary: dict[str, Any]) -> str:
    parts = [str(summary["instance_id"]), str(summary["state"]), str(summary["instance_type"])]
    if summary["public_ip"]:
        parts.append(f"public IP {summary['public_ip']}")
    if summary["protected"]:
        parts.append("protected")
    return ", ".join(parts)


def _trail_headline(summary: dict[str, Any]) -> str:
    count = f"{summary['count']}{'+' if summary['truncated'] else ''} events"
    if not summary["count"]:
        return f"{count} in the window"
    names = ", ".join(list(summary["event_names"])[:3])
    errors = sum(summary["errors"].values())
    ips = len(summary["source_ips"])
    return f"{count} ({names}), {errors} errors, {ips} source IPs"


CHECKS: dict[str, Callable[[Alert, Settings], Finding]] = {
    "ec2_instance": check_ec2_instance,
    "cloudtrail": check_cloudtrail,
    "cloudtrail_actor": check_cloudtrail_actor,
    "iam_principal": check_iam_principal,
    "health": check_health,
    "api_rate": check_api_rate,
}


def _in_scope(
    check: Callable[[Alert, Settings], Finding], request: DiagnoseRequest, settings: Settings
) -> Finding:
    """The check, reading in the account and region of the alert's subject through the member's role; or
    why it reads nothing there."""
    try:
        with aws.acting_in(alert_scope(request.alert), incident_id=request.incident_id, purpose="diagnose"):
            return check(request.alert, settings)
    except errors.OutOfScope as exc:
        return _not("not_applicable", str(exc))


def run(request: DiagnoseRequest, settings: Settings) -> Diagnostic:
    check = CHECKS.get(request.check)
    if check is None:
        raise errors.DiagnosticFailed(
            f"unknown check {request.check!r}; known checks: {', '.join(sorted(CHECKS))}"
        )
    started_at = store.iso()
    try:
        finding = _in_scope(check, request, settings)
    except ClientError as exc:
        code = aws.error_code(exc)
        if aws.is_throttling(exc):
            raise errors.Throttled(f"{request.check} diagnostic was throttled ({code})") from exc
        raise errors.DiagnosticFailed(f"{request.check} diagnostic failed: {code}") from exc
    logger.info("diagnostic read", check=request.check, status=finding["status"])
    return Diagnostic(
        check=request.check,
        status=finding["status"],
        summary=finding["summary"],
        started_at=started_at,
        finished_at=store.iso(),
    )
