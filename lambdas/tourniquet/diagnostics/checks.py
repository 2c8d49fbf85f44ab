"""The read-only checks the Diagnose state runs, and how each result is recorded on the incident."""

from __future__ import annotations

import re
from collections.abc import Callable

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.diagnostics import cloudtrail, ec2
from tourniquet.diagnostics.model import DiagnoseRequest, DiagnosticResult, Finding
from tourniquet.intake.model import Alert, Resource
from tourniquet.logs import logger
from tourniquet.settings import Settings

EC2_INSTANCE = "AwsEc2Instance"
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def target_instance(alert: Alert) -> Resource | None:
    return next((resource for resource in alert.resources if resource.type == EC2_INSTANCE), None)


def _readable_instance(alert: Alert) -> Resource | Finding:
    """The alert's instance, or why it cannot be looked at from this deployment."""
    instance = target_instance(alert)
    if instance is None:
        return Finding(status="not_applicable", summary={"reason": "the alert names no EC2 instance"})
    region = instance.region or alert.region
    here = aws.client("ec2").meta.region_name
    if region != here:
        return Finding(
            status="not_applicable",
            summary={
                "instance_id": instance.id,
                "reason": f"the instance is in {region}; this deployment reads {here}",
            },
        )
    return instance


def check_ec2_instance(alert: Alert, settings: Settings) -> Finding:
    instance = _readable_instance(alert)
    if not isinstance(instance, Resource):
        return instance
    if not _INSTANCE_ID.fullmatch(instance.id):
        return Finding(
            status="not_found", summary={"instance_id": instance.id, "reason": "not an instance id"}
        )
    summary = ec2.describe(instance.id, settings.protected_tag_key)
    if summary is None:
        return Finding(
            status="not_found", summary={"instance_id": instance.id, "reason": "EC2 does not know it"}
        )
    return Finding(status="ok", summary=summary)


def check_cloudtrail(alert: Alert, settings: Settings) -> Finding:
    instance = _readable_instance(alert)
    if not isinstance(instance, Resource):
        return instance
    span = cloudtrail.window(alert.time, store.now())
    events, truncated = cloudtrail.lookup(instance.id, span)
    summary = {"instance_id": instance.id, **cloudtrail.summarize(events, span, truncated=truncated)}
    return Finding(status="ok", summary=summary)


CHECKS: dict[str, Callable[[Alert, Settings], Finding]] = {
    "ec2_instance": check_ec2_instance,
    "cloudtrail": check_cloudtrail,
}


def run(request: DiagnoseRequest, settings: Settings) -> DiagnosticResult:
    check = CHECKS.get(request.check)
    if check is None:
        raise errors.DiagnosticFailed(
            f"unknown check {request.check!r}; known checks: {', '.join(sorted(CHECKS))}"
        )
    try:
        finding = check(request.alert, settings)
        store.append_event(
            request.incident_id,
            "diagnostic",
            check=request.check,
            status=finding["status"],
            summary=finding["summary"],
        )
    except ClientError as exc:
        code = aws.error_code(exc)
        if aws.is_throttling(exc):
            raise errors.Throttled(f"{request.check} diagnostic was throttled ({code})") from exc
        raise errors.DiagnosticFailed(f"{request.check} diagnostic failed: {code}") from exc
    logger.info("diagnostic recorded", check=request.check, status=finding["status"])
    return DiagnosticResult(check=request.check, status=finding["status"], summary=finding["summary"])
