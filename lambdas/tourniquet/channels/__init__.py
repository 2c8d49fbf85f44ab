"""Notification channels behind one protocol (:class:`Channel`). Slack, which carries the cards and the
approval gate, is the package ``tourniquet.slack``; the others (PagerDuty, Microsoft Teams, e-mail) hear of
every change of status through :func:`deliver`. A new channel is one module here, one line in
``routing.CHANNELS`` and its route in the configuration (docs/channels.md)."""

from tourniquet.channels.base import CLICK, STEP, Bound, Channel, ChannelFailed, Update, UpdateKind, plain
from tourniquet.channels.routing import deliver

__all__ = ["CLICK", "STEP", "Bound", "Channel", "ChannelFailed", "Update", "UpdateKind", "deliver", "plain"]
