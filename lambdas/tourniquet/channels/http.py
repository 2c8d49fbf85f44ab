"""One JSON POST to a channel's web endpoint, retried within a :class:`~tourniquet.channels.base.Bound`.

Timeouts, connection errors, 5xx and 429 are retried (429 after its ``Retry-After``, when that fits in the
bound); any other 4xx is final. Plain ``urllib``: the channels need one POST of a JSON body, and the retry
policy (bounded, honouring ``Retry-After``) is the product's own.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from tourniquet.channels.base import Bound, ChannelFailed

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
BACKOFF_SECONDS = 0.5


def check_url(url: str, what: str) -> str:
    """An HTTPS URL (plain HTTP only on the loopback interface: the sandbox's stand-ins)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ChannelFailed(f"the {what} is not an https URL")


def post_json(url: str, body: dict[str, Any], bound: Bound, *, what: str) -> None:
    """POST ``body``; raises :class:`ChannelFailed` naming ``what`` once the bound is spent."""
    data = json.dumps(body).encode()
    deadline = time.monotonic() + bound.total
    reason = "not attempted"
    for attempt in range(1, bound.attempts + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked by check_url)
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        wait = BACKOFF_SECONDS * attempt
        try:
            with urllib.request.urlopen(request, timeout=min(bound.timeout, remaining)):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                reason = "rate limited (HTTP 429)"
                wait = _retry_after(exc.headers.get("Retry-After"), wait)
            elif exc.code >= 500:
                reason = f"unavailable (HTTP {exc.code})"
            else:
                raise ChannelFailed(f"{what} refused the message (HTTP {exc.code})") from exc
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            # urllib reports refused connections and timeouts as OSError subclasses (URLError among them).
            reason = "timed out" if _timed_out(exc) else f"unreachable ({type(exc).__name__})"
        if attempt == bound.attempts or time.monotonic() + wait >= deadline:
            break
        # The backoff (or the server's Retry-After) before the next attempt, always inside the bound.
        time.sleep(wait)
    raise ChannelFailed(f"{what} {reason}, after {attempt} attempt{'s' if attempt > 1 else ''}")


def _retry_after(header: str | None, default: float) -> float:
    try:
        return max(float(header), 0.0) if header is not None else default
    except ValueError:
        return default


def _timed_out(exc: BaseException) -> bool:
    reason = getattr(exc, "reason", None)
    return isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError)
