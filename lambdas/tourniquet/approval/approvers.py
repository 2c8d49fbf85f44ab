"""Who may decide an approval: Slack user ids and members of Slack user groups.

A plan may name its own approvers (``plan.approvers``, per playbook or per action); otherwise the
deployment's ``APPROVERS`` and ``APPROVER_GROUPS`` decide. Group membership comes from
``usergroups.users.list`` and is kept per container for a short time: long enough to spare Slack's rate
limits during a burst of clicks, short enough that removing someone from the group takes effect within a
minute.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable

from tourniquet.settings import get_settings
from tourniquet.slack import Slack

GROUP_CACHE_SECONDS = 60.0
# Slack user group ids start with S; user ids with U or W.
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,31}$")

_members: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
_lock = threading.Lock()


def configured(plan_approvers: Iterable[str]) -> tuple[str, ...]:
    """The approvers that apply: the plan's own, or else the deployment's users and groups."""
    own = tuple(plan_approvers)
    if own:
        return own
    settings = get_settings()
    return (*settings.approvers, *settings.approver_groups)


def is_authorized(user: str, approvers: Iterable[str], connect: Callable[[], Slack]) -> bool:
    """Whether ``user`` is one of ``approvers`` or a member of one of its groups.

    Listed users are checked first, so that Slack is only asked when a group could decide.
    Raises :class:`~tourniquet.errors.SlackUnavailable` if a group's members cannot be read.
    """
    entries = tuple(approvers)
    groups = [entry for entry in entries if _GROUP_ID.match(entry)]
    if user in entries and user not in groups:
        return True
    return any(user in group_members(group, connect) for group in groups)


def group_members(group_id: str, connect: Callable[[], Slack]) -> frozenset[str]:
    key = (get_settings().slack_api_url, group_id)
    now = time.monotonic()
    with _lock:
        cached = _members.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    members = connect().usergroup_members(group_id)
    with _lock:
        _members[key] = (now + GROUP_CACHE_SECONDS, members)
    return members
