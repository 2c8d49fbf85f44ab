"""Notification channels behind one protocol (:class:`Channel`): Slack (``slack``), PagerDuty, Microsoft
Teams and e-mail hear of every change of status through :func:`deliver`; those that also implement
:class:`ReportChannel` (Slack, Teams, e-mail) carry the weekly report through :func:`deliver_report`. The
approval gate (the Slack cards with buttons) is no channel's: ``tourniquet.approval`` posts it through the
Slack client (``tourniquet.slack``). A new channel is one module here, one line in ``routing.CHANNELS`` and
its route in the configuration (docs/channels.md)."""

from tourniquet.channels.base import (
    CLICK,
    STEP,
    Bound,
    Channel,
    ChannelFailed,
    Decided,
    ReportChannel,
    Step,
    Update,
    UpdateKind,
    plain,
)
from tourniquet.channels.routing import deliver, deliver_report

__all__ = [
    "CLICK",
    "STEP",
    "Bound",
    "Channel",
    "ChannelFailed",
    "Decided",
    "ReportChannel",
    "Step",
    "Update",
    "UpdateKind",
    "deliver",
    "deliver_report",
    "plain",
]
