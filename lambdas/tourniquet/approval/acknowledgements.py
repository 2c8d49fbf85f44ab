"""The Acknowledge button: offered on the card of an incident that nothing was done for (alert-only).

Taking an incident is claimed like an approval (the same approvers, the same single-use conditional write),
and runs nothing: it records who took it. The offer is made once per incident (a retried notification finds
the one already made) and stays as long as a release offer would.
"""

from __future__ import annotations

from datetime import timedelta

from tourniquet import store
from tourniquet.approval import records
from tourniquet.approval.card import FinalState
from tourniquet.approval.model import CardContext
from tourniquet.approval.records import Approval
from tourniquet.settings import get_settings


def offer(ctx: CardContext, final: FinalState) -> Approval:
    """The incident's acknowledgement: the one already offered, or a new one."""
    incident_id = ctx.incident.id
    incident = store.get_incident(incident_id) or {}
    offered = incident.get("ack_approval_id")
    existing = records.get(str(offered)) if offered else None
    if existing is not None:
        return existing
    deadline = store.iso(store.now() + timedelta(seconds=get_settings().release_offer_seconds))
    approval = records.create_acknowledgement(ctx, final, deadline=deadline)
    store.update_incident(incident_id, ack_approval_id=approval.approval_id)
    store.append_event(
        incident_id, "acknowledgement_offered", approval_id=approval.approval_id, deadline=deadline
    )
    return approval
