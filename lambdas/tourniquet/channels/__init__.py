"""Notification channels behind one protocol (:class:`Channel`). Slack, which carries the cards and the
approval gate, is the package ``tourniquet.slack``; the others (PagerDuty, Microsoft Teams, e-mail) hear of
every change of status through :func:`deliver`; those that also implement :class:`ReportChannel` (Teams,
e-mail) carry the weekly report through :func:`deliver_report`. A new channel is one module here, one line in
``routing.CHANNELS`` and its route in the configuration (docs/channels.md)."""

from tourniquet.channels.base import (
    CLICK,
    STEP,
    Bound,
    Channel,
    ChannelFailed,
    ReportChannel,
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
    "ReportChannel",
    "Update",
    "UpdateKind",
    "deliver",
    "deliver_report",
    "plain",
]
