"""Which accounts and regions Tourniquet acts in, and the plain reason it gives for any other.

The configuration names accounts (or ``*``: every account of the organization that has the member stack),
organizational units, accounts never acted in (the management account, say) with the reason, and regions.
An alert from anywhere else is raised for a person and nothing is called there; the client factory
(:func:`tourniquet.aws.acting_in`) refuses such a scope as well, whoever asks.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tourniquet import aws
from tourniquet.state import Scope, scope_of

if TYPE_CHECKING:
    from tourniquet.intake.model import Alert
    from tourniquet.settings import Settings

ALL_ACCOUNTS = "*"
# Walking up from an account to the root never takes more steps than OUs nest (five levels).
_MAX_DEPTH = 8

_ancestors: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


def alert_scope(alert: Alert) -> Scope | None:
    """Where an alert's subject is: its own region if the source names one, in the alert's account."""
    resource = alert.primary_resource
    return scope_of(alert.account, (resource.region if resource else None) or alert.region)


def refusal(scope: Scope | None, settings: Settings) -> str | None:
    """Why Tourniquet does not act in ``scope``, in plain words; None when it does."""
    if scope is None:
        return "the alert names no AWS account and region to act in"
    excluded = settings.excluded_accounts.get(scope.account)
    if excluded is not None:
        return f"account {scope.account} is never acted in ({excluded})"
    if scope.region not in settings.scope_regions:
        regions = ", ".join(settings.scope_regions) or "none"
        return f"{scope.region} is not a region Tourniquet acts in (configured: {regions})"
    if ALL_ACCOUNTS in settings.scope_accounts or scope.account in settings.scope_accounts:
        return None
    return _outside_ous(scope.account, settings.scope_ous)


def _outside_ous(account: str, ous: tuple[str, ...]) -> str | None:
    """None when ``account`` sits under one of ``ous``; otherwise why it is outside the scope."""
    if ous:
        try:
            if set(_ancestors_of(account)) & set(ous):
                return None
        except ClientError as exc:
            return (
                f"account {account}'s organizational unit could not be read "
                f"({aws.error_code(exc) or 'error'}), so it is treated as outside the scope"
            )
    return f"account {account} is outside the accounts Tourniquet acts in"


def forget_organization() -> None:
    """Drop the OUs read so far, so the next check reads them afresh (when the organization behind an
    endpoint was replaced, as between two emulated AWS backends)."""
    with _lock:
        _ancestors.clear()


def _ancestors_of(account: str) -> tuple[str, ...]:
    """The OUs (and root) above ``account``, nearest first, read once per process."""
    with _lock:
        known = _ancestors.get(account)
    if known is not None:
        return known
    organizations = aws.client("organizations")
    found: list[str] = []
    child = account
    for _ in range(_MAX_DEPTH):
        parents = organizations.list_parents(ChildId=child)["Parents"]
        if not parents:
            break
        parent = parents[0]
        found.append(str(parent["Id"]))
        if parent["Type"] == "ROOT":
            break
        child = str(parent["Id"])
    with _lock:
        _ancestors[account] = tuple(found)
    return tuple(found)
