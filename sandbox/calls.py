"""A record of the AWS calls the embedded AWS served: which service and action, in which account and region,
signed by whom.

moto puts what a request does in the account of the credentials that signed it, so the account of a call is
the account whose credentials made it. :class:`CallLog` records every request while a recording is open
(:meth:`CallLog.recording`), so a test can show, say, that nothing was written in the hub's account while a
member account's incident was contained, and that every write there came from the member role's session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.core.responses import BaseResponse

from sandbox import trust
from sandbox.patches import Patcher

# Actions whose names start so only read.
READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Search", "BatchGet", "Query", "Scan")


@dataclass(frozen=True)
class Call:
    """One request the embedded AWS served."""

    service: str
    action: str
    account: str
    region: str
    principal: str
    """The role behind a session, the user, or the account's root (as a trust policy names them)."""
    session: str
    """The signer as CloudTrail shows it: the assumed-role session's ARN for a role."""
    role_arn: str | None = None
    """For ``AssumeRole``: the role asked for."""
    at: float = 0.0
    """When the request arrived (epoch seconds)."""

    @property
    def writes(self) -> bool:
        return not self.action.startswith(READ_PREFIXES)


class CallLog:
    """The calls made while a recording is open; recordings may nest and overlap (each gets every call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[list[Call]] = []

    @contextmanager
    def recording(self) -> Iterator[list[Call]]:
        """Yields the list that receives each call served until the block ends."""
        calls: list[Call] = []
        with self._lock:
            self._open.append(calls)
        try:
            yield calls
        finally:
            with self._lock:
                self._open.remove(calls)

    @property
    def active(self) -> bool:
        return bool(self._open)

    def record(self, response: BaseResponse) -> None:
        try:
            who = trust.caller(response)
            call = Call(
                service=str(response.service_name),
                action=str(response._get_action()),
                account=who.account,
                region=str(response.region),
                principal=who.principal_arn,
                session=who.display_arn,
                role_arn=response._get_param("RoleArn") if response.service_name == "sts" else None,
                at=time.time(),
            )
        except Exception:  # noqa: BLE001 - recording must never fail the request it watches
            return
        with self._lock:
            for calls in self._open:
                calls.append(call)


def install(patcher: Patcher, log: CallLog) -> None:
    """Record each request moto serves through ``BaseResponse.call_action`` while ``log`` records."""
    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        if log.active:
            log.record(self)
        return original(self)

    patcher.set(BaseResponse, "call_action", call_action)
