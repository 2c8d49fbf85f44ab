"""Which channels hear of an update (``CHANNEL_ROUTES``), and delivering it to each of them at once.

A channel that fails is retried within its bound, then its failure goes on the incident's timeline
(``channel_error``, in plain words) and the log. Channels run side by side, so a slow or failing one never
holds up another, and :func:`deliver` never raises: no channel can block an approval or the workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase

from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import store
from tourniquet.channels.base import STEP, Bound, Channel, ChannelFailed, Update
from tourniquet.channels.email import Email
from tourniquet.channels.pagerduty import PagerDuty
from tourniquet.channels.teams import Teams
from tourniquet.logs import logger
from tourniquet.settings import ChannelRoute, get_settings

# One line per channel: its name (the key in CHANNEL_ROUTES) and how it is connected.
CHANNELS: Mapping[str, Callable[[], Channel]] = {
    PagerDuty.name: PagerDuty.connect,
    Teams.name: Teams.connect,
    Email.name: Email.connect,
}


def routed(update: Update, routes: Mapping[str, ChannelRoute]) -> list[str]:
    """The configured channels whose route takes ``update``: its severity and its playbook. A failure that
    came before the alert was read (its severity unknown) goes to every channel."""
    return [
        name
        for name, route in routes.items()
        if name in CHANNELS
        and (
            update.severity == "UNKNOWN"
            or (
                update.severity in route.severities
                and any(fnmatchcase(update.playbook, pattern) for pattern in route.playbooks)
            )
        )
    ]


def deliver(update: Update, bound: Bound = STEP) -> dict[str, str]:
    """Send ``update`` to every routed channel; returns each one's result (``sent`` or why it failed)."""
    names = routed(update, get_settings().channel_routes)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="channel") as pool:
        results = dict(zip(names, pool.map(lambda name: _send(name, update, bound), names), strict=True))
    for name, result in results.items():
        if result != "sent":
            _record_failure(update, name, result)
    return results


def _send(name: str, update: Update, bound: Bound) -> str:
    try:
        CHANNELS[name]().send(update, bound)
    except ChannelFailed as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 (a channel's defect must not reach the workflow either)
        logger.exception("channel failed unexpectedly", extra={"channel": name})
        return f"{name} failed unexpectedly ({type(exc).__name__})"
    return "sent"


def _record_failure(update: Update, name: str, reason: str) -> None:
    logger.warning("channel failed", extra={"channel": name, "update": update.kind.value, "error": reason})
    if not update.incident_id:
        return
    try:
        store.append_event(
            update.incident_id, "channel_error", channel=name, update=update.kind.value, error=reason
        )
    except (ClientError, BotoCoreError) as exc:
        logger.error("channel failure not recorded", extra={"channel": name, "error": type(exc).__name__})
