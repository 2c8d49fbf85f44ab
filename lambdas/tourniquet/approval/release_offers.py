"""The Release button: offered on a closed incident's card when something it contained can be put back.

Releasing re-opens a resource that was contained, so it is approved like a destructive step: the same
approvers, the same single-use claim, and the two-person rule when ``release`` is listed in it. The offer is
made once per incident (a retried notification finds the one already made) and expires after
``RELEASE_OFFER_SECONDS``; after that, ``tourniquet release`` remains.
"""

from __future__ import annotations

from datetime import timedelta

from tourniquet import store
from tourniquet.approval import records
from tourniquet.approval.card import FinalState
from tourniquet.approval.model import CardContext
from tourniquet.approval.records import RELEASE_ACTIONS, Approval
from tourniquet.approval.requests import required_approvals
from tourniquet.containment.registry import ACTIONS
from tourniquet.settings import get_settings


def releasable(incident_id: str) -> bool:
    """Whether an undo record holds something release would restore (evidence snapshots are only kept)."""
    return any(
        (action := ACTIONS.get(str(record.get("action")))) is not None and action.kept is None
        for record in store.undo_records(incident_id)
    )


def offer(ctx: CardContext, final: FinalState) -> Approval | None:
    """The incident's release approval: the one already offered, a new one, or None if nothing to release."""
    incident_id = ctx.incident.id
    incident = store.get_incident(incident_id) or {}
    offered = incident.get("release_approval_id")
    if offered:
        return records.get(str(offered))
    if not releasable(incident_id):
        return None
    deadline = store.iso(store.now() + timedelta(seconds=get_settings().release_offer_seconds))
    approval = records.create_release(
        ctx, final, deadline=deadline, required_approvals=required_approvals(RELEASE_ACTIONS)
    )
    store.update_incident(incident_id, release_approval_id=approval.approval_id)
    store.append_event(
        incident_id,
        "release_offered",
        approval_id=approval.approval_id,
        deadline=deadline,
        required_approvals=approval.required_approvals,
    )
    return approval
