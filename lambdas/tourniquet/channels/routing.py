"""Which channels hear of an update (``CHANNEL_ROUTES``), and delivering it to each of them at once.

Slack is the primary channel: without a route of its own in ``CHANNEL_ROUTES`` it hears of every incident,
and whatever its route it hears of every failure.

A channel that fails is retried within its bound, then its failure goes on the incident's timeline
(``channel_error``, in plain words) and the log. Channels run side by side, so a slow or failing one never
holds up another, and :func:`deliver` never raises: no channel can block an approval or the workflow.
Reports (:func:`deliver_report`) go the same way to the configured channels that carry them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from typing import cast

from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import store
from tourniquet.channels.base import STEP, Bound, Channel, ChannelFailed, ReportChannel, Update, UpdateKind
from tourniquet.channels.email import Email
from tourniquet.channels.pagerduty import PagerDuty
from tourniquet.channels.slack import SlackChannel
from tourniquet.channels.teams import Teams
from tourniquet.logs import logger
from tourniquet.settings import ChannelRoute, get_settings

# One line per channel: its name (the key in CHANNEL_ROUTES) and its class.
CHANNELS: Mapping[str, type[Channel]] = {
    SlackChannel.name: SlackChannel,
    PagerDuty.name: PagerDuty,
    Teams.name: Teams,
    Email.name: Email,
}


def configured_routes() -> dict[str, ChannelRoute]:
    """The configured routes, and Slack's (every incident) when none is configured for it."""
    return {SlackChannel.name: ChannelRoute(), **get_settings().channel_routes}


def routed(update: Update, routes: Mapping[str, ChannelRoute]) -> list[str]:
    """The configured channels that tell this kind of update and whose route takes it: its severity and its
    playbook. A failure reaches every channel when its severity or its playbook is not known yet (it came
    before the alert was read or the plan was made: no route can tell whether it is theirs), and always
    reaches Slack, which carries the card people act on."""
    return [
        name
        for name, route in routes.items()
        if name in CHANNELS and update.kind in CHANNELS[name].kinds and _takes(name, route, update)
    ]


def _takes(name: str, route: ChannelRoute, update: Update) -> bool:
    if update.severity == "UNKNOWN":
        return True
    if update.kind is UpdateKind.FAILED and (not update.playbook or name == SlackChannel.name):
        return True
    return update.severity in route.severities and any(
        fnmatchcase(update.playbook, pattern) for pattern in route.playbooks
    )


def deliver(update: Update, bound: Bound = STEP) -> dict[str, str]:
    """Send ``update`` to every routed channel; returns each one's result (``sent`` or why it failed)."""
    names = routed(update, configured_routes())
    results = _side_by_side(names, lambda name: CHANNELS[name].connect().send(update, bound))
    for name, result in results.items():
        if result != "sent":
            _record_failure(update, name, result)
    return results


def carries_reports(name: str) -> bool:
    channel = CHANNELS.get(name)
    return channel is not None and issubclass(channel, ReportChannel)


def deliver_report(
    title: str, text: str, bound: Bound = STEP, *, skip: Collection[str] = ()
) -> dict[str, str]:
    """Send a report to every configured channel that carries reports (but those in ``skip``), whatever its
    route's severities and playbooks (a report is about all of them), side by side: a failing one holds
    back no other. Returns each one's result (``sent`` or why it failed), and never raises. A failure is
    logged, as a report has no incident timeline to go on."""
    names = [name for name in configured_routes() if carries_reports(name) and name not in skip]
    results = _side_by_side(names, lambda name: _report_channel(name).send_report(title, text, bound))
    for name, result in results.items():
        if result != "sent":
            logger.warning("report not delivered", extra={"channel": name, "error": result})
    return results


def _report_channel(name: str) -> ReportChannel:
    # Each class was checked to carry reports (carries_reports): what it connects does.
    return cast("ReportChannel", CHANNELS[name].connect())


def _side_by_side(names: list[str], send: Callable[[str], None]) -> dict[str, str]:
    """``send`` to each channel at once: a slow or failing one holds up no other."""
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="channel") as pool:
        return dict(zip(names, pool.map(lambda name: _attempt(name, send), names), strict=True))


def _attempt(name: str, send: Callable[[str], None]) -> str:
    try:
        send(name)
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
