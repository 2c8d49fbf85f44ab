"""Runs one containment action: record the before-state, act, re-read to verify, record the proof."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.containment import ec2, iam, registry
from tourniquet.containment.actions import Action, Applied, Context
from tourniquet.containment.ec2 import Instance
from tourniquet.containment.iam import Principal
from tourniquet.containment.model import ContainRequest, ContainTarget
from tourniquet.logs import logger
from tourniquet.settings import Settings
from tourniquet.state import ActionResult, ActionStatus, Scope


def run(request: ContainRequest, settings: Settings) -> ActionResult:
    """Run one action in the target's own account and region, through the member role there."""
    action = registry.get(request.action)
    try:
        # Lifting a protection is allowed only in a session named for it (the member role's policy).
        with aws.acting_in(
            request.target.scope,
            incident_id=request.incident_id,
            purpose="contain",
            action=action.name if action.lifts_protection else None,
        ) as acting:
            return _run(action, request, settings, acting.scope)
    except errors.OutOfScope as exc:
        # The plan raises such a target for a person; this guard holds whoever asks.
        _record(request, "refused", detail={"reason": str(exc)})
        raise
    except ClientError as exc:
        code = aws.error_code(exc)
        if aws.is_throttling(exc):
            raise errors.Throttled(f"{action.name} on {request.target.id} was throttled ({code})") from exc
        raise errors.ContainmentFailed(f"{action.name} on {request.target.id} failed: {code}") from exc


def loader(target: ContainTarget) -> Callable[[], Instance | Principal]:
    """Reads the action's subject afresh: the instance, or the IAM principal behind an access key."""
    if target.type == "AwsEc2Instance":
        return lambda: ec2.describe_instance(target.id)
    return lambda: iam.principal(target)


def _run(action: Action[Any], request: ContainRequest, settings: Settings, scope: Scope) -> ActionResult:
    target = request.target
    if action.destructive and request.mode != "approval":
        reason = f"{action.name} is destructive and runs only after an approval"
        _record(request, "refused", detail={"reason": reason})
        raise errors.ContainmentFailed(reason)
    if action.target_type != target.type:
        raise errors.ContainmentFailed(f"{action.name} acts on {action.target_type}, not on {target.type}")
    if target.type == "AwsIamAccessKey" and iam.is_root(target):
        reason = "the access key belongs to the account root: Tourniquet never changes root, it alerts only"
        _record(request, "refused", detail={"reason": reason})
        raise errors.RootRefused(reason)

    load = loader(target)
    subject = load()
    if settings.protected_tag_key in subject.tags and not action.lifts_protection:
        # The plan makes protected resources alert-only and the role is denied them; this is the third guard.
        reason = f"the target carries {settings.protected_tag_key}: Tourniquet never changes it"
        detail: dict[str, Any] = {"reason": reason}
        _record(request, "skipped_protected", detail=detail)
        return _result(request, "skipped_protected", verified=False, detail=detail)

    ctx = Context(
        incident_id=request.incident_id,
        target_id=target.id,
        scope=scope,
        record_step=lambda step: _record_step(request, step),
        protected_tag_key=settings.protected_tag_key,
    )
    before = action.read(ctx, subject)
    calls = action.plan(ctx, before)

    if request.dry_run or settings.dry_run:
        detail = {"calls": [dict(call) for call in calls]}
        _record(request, "planned", before=before, detail=detail)
        return _result(request, "planned", verified=False, detail=detail)

    # The undo record is written before anything changes; a retry keeps the first one.
    store.put_undo(request.incident_id, action.name, target.id, before, scope=scope)
    applied = action.apply(ctx, before, calls) if calls else Applied()
    after = action.read(ctx, load())
    problems = action.verify(ctx, after)

    status: ActionStatus = "done" if calls else "unchanged"
    detail = {**action.detail(after), **applied.detail}
    if problems:
        detail["problems"] = problems
    _record(
        request,
        status,
        verified=not problems,
        before=before,
        after=after,
        request_ids=applied.request_ids,
        detail=detail,
    )
    if problems:
        raise errors.VerificationFailed(
            f"{action.name} on {target.id} did not take effect: " + "; ".join(problems)
        )
    logger.info("containment action verified", action=action.name, target=target.id, status=status)
    return _result(request, status, verified=True, detail=detail)


def _result(
    request: ContainRequest, status: ActionStatus, *, verified: bool, detail: dict[str, Any]
) -> ActionResult:
    return ActionResult(
        action=request.action,
        target=request.target,
        status=status,
        verified=verified,
        detail=detail,
    )


def _record(
    request: ContainRequest,
    status: ActionStatus,
    *,
    verified: bool = False,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_ids: list[str] | None = None,
    detail: dict[str, Any],
) -> None:
    store.append_event(
        request.incident_id,
        "action",
        action=request.action,
        target=request.target.as_state(),
        mode=request.mode,
        status=status,
        verified=verified,
        before=before,
        after=after,
        request_id=request_ids,
        detail=detail,
        acted_as=aws.acted_as(),
    )
    logger.info("containment action recorded", action=request.action, target=request.target.id, status=status)


def _record_step(request: ContainRequest, step: dict[str, Any]) -> None:
    store.append_event(
        request.incident_id,
        "action_step",
        action=request.action,
        target=request.target.as_state(),
        mode=request.mode,
        **step,
    )
