"""Release: return everything an incident contained to the before-state its undo records hold.

Each undo record is released on its own, newest action first (the reverse of the containment order): a
fresh read, the calls that bring it back to the recorded state, then a fresh read that must match it. Each
restoration is recorded on the timeline (kind ``release``). Evidence snapshots are kept, and so is what
cannot be put back (a deleted console password); both are recorded as kept, with the reason. One failed
restoration does not stop the others: every one is tried and recorded, then the failures are raised together.

Release runs from the CLI (as the caller's AWS identity) or from the release workflow an approved Release
click starts (as the Slack approver, with the approval's id on the record).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tourniquet import aws, errors, store
from tourniquet.containment import ec2, iam, registry
from tourniquet.containment.actions import Action, Context
from tourniquet.containment.ec2 import Instance
from tourniquet.containment.iam import Principal
from tourniquet.feed.announce import announce
from tourniquet.logs import logger
from tourniquet.state import ReleaseResult, Restoration, RestorationStatus, Scope, scope_of


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    incident_id: str = Field(min_length=1, max_length=128)
    actor: str = Field(min_length=1, max_length=256)
    approval_id: str | None = Field(default=None, max_length=64)
    dry_run: bool = False

    @classmethod
    def parse(cls, event: Any) -> ReleaseRequest:
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
            raise errors.ReleaseFailed(f"invalid release request: bad or missing {fields}") from exc


def _order(record: dict[str, Any]) -> int:
    name = record["action"]
    order = registry.CONTAINMENT_ORDER
    return -order.index(name) if name in order else 1


def release(request: ReleaseRequest) -> ReleaseResult:
    incident = store.get_incident(request.incident_id)
    if incident is None:
        raise errors.TargetNotFound(f"incident {request.incident_id} does not exist")
    records = sorted(store.undo_records(request.incident_id), key=_order)
    restorations: list[Restoration] = []
    failures: list[str] = []
    for record in records:
        try:
            # Each record is restored where it was read: its target's own account and region.
            with aws.acting_in(
                _scope(record, incident), incident_id=request.incident_id, purpose="release"
            ) as acting:
                restorations.append(_release_one(request, record, acting.scope))
        except errors.VerificationFailed as exc:
            # Already recorded, with what still differs.
            failures.append(str(exc))
        except (ClientError, errors.TourniquetError) as exc:
            reason = _reason(exc)
            _record(request, record, "failed", detail={"error": reason})
            failures.append(f"{record['action']} on {record['target']}: {reason}")
    if failures:
        store.append_event(
            request.incident_id,
            "release_failed",
            actor=request.actor,
            approval_id=request.approval_id,
            failed=len(failures),
            restorations=len(records),
        )
        raise errors.ReleaseFailed(
            f"incident {request.incident_id}: {len(failures)} of {len(records)} restorations failed: "
            + "; ".join(failures)
        )
    if request.dry_run:
        return ReleaseResult(
            incident_id=request.incident_id, status="planned", restorations=tuple(restorations)
        )
    store.update_incident(
        request.incident_id, status="released", released_at=store.iso(), released_by=request.actor
    )
    store.append_event(
        request.incident_id,
        "released",
        actor=request.actor,
        approval_id=request.approval_id,
        restorations=len(restorations),
    )
    announce(request.incident_id, "released")
    logger.info("incident released", incident_id=request.incident_id, restorations=len(restorations))
    return ReleaseResult(incident_id=request.incident_id, status="released", restorations=tuple(restorations))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return f"{exc.operation_name} failed: {aws.error_code(exc)}"
    return str(exc)


def _scope(record: dict[str, Any], incident: dict[str, Any]) -> Scope | None:
    """Where an undo record's target is: recorded with it, or (older records) the incident's alert."""
    if isinstance(record.get("scope"), dict):
        return scope_of(record["scope"].get("account"), record["scope"].get("region"))
    alert = incident.get("alert") or {}
    resources = alert.get("resources") or [{}]
    return scope_of(alert.get("account"), resources[0].get("region") or alert.get("region"))


def _subject(action: Action[Any], record: dict[str, Any]) -> Instance | Principal:
    if action.target_type == "AwsEc2Instance":
        return ec2.describe_instance(record["target"])
    return iam.from_state(record["before"]["principal"])


def _release_one(request: ReleaseRequest, record: dict[str, Any], scope: Scope) -> Restoration:
    action = registry.get(record["action"])
    before: dict[str, Any] = record["before"]
    ctx = Context(
        incident_id=request.incident_id,
        target_id=record["target"],
        record_step=lambda step: None,
        scope=scope,
    )
    if action.kept is not None:
        detail: dict[str, Any] = {"reason": action.kept}
        # Kept on purpose: there is nothing to restore, so nothing differs from what release intends.
        _record(request, record, "kept", verified=True, detail=detail)
        return Restoration(
            action=action.name, target=record["target"], status="kept", verified=True, detail=detail
        )

    now = action.read(ctx, _subject(action, record))
    calls = action.restore(ctx, before, now)
    if request.dry_run:
        detail = {"calls": [dict(call) for call in calls]}
        _record(request, record, "planned", now=now, detail=detail)
        return Restoration(
            action=action.name, target=record["target"], status="planned", verified=False, detail=detail
        )

    request_ids = action.apply_restore(ctx, before, calls) if calls else []
    after = action.read(ctx, _subject(action, record))
    problems = action.restored(ctx, before, after)
    status: RestorationStatus = "done" if calls else "unchanged"
    detail = {"problems": problems} if problems else {}
    _record(
        request,
        record,
        status,
        verified=not problems,
        now=now,
        after=after,
        request_ids=request_ids,
        detail=detail,
    )
    if problems:
        raise errors.VerificationFailed(
            f"{action.name} on {record['target']} was not restored: " + "; ".join(problems)
        )
    return Restoration(
        action=action.name, target=record["target"], status=status, verified=True, detail=detail
    )


def _record(
    request: ReleaseRequest,
    record: dict[str, Any],
    status: RestorationStatus,
    *,
    verified: bool = False,
    now: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_ids: list[str] | None = None,
    detail: dict[str, Any],
) -> None:
    store.append_event(
        request.incident_id,
        "release",
        actor=request.actor,
        action=record["action"],
        target=record["target"],
        status=status,
        verified=verified,
        before=now,
        after=after,
        restored_to=record["before"],
        request_id=request_ids,
        detail=detail,
        acted_as=aws.acted_as(),
    )
    logger.info("release recorded", action=record["action"], target=record["target"], status=status)
