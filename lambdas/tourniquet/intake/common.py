"""Pieces every source parser shares: the ignored result, required-field checks and the dedup key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tourniquet.errors import InvalidAlert


@dataclass(frozen=True)
class Ignored:
    """An event that was understood but is not an alert, and why."""

    source: str
    reason: str


def dedup_key(account: str, region: str, finding_type: str, resource_id: str) -> str:
    """Same account, region, type and resource: the same problem, whoever reports it and however often."""
    basis = "|".join((account, region, finding_type.lower(), resource_id.lower()))
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def text(value: Any, name: str) -> str:
    """A required, non-empty string field; the error names the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidAlert(f"{name}: required field is missing")
    if not isinstance(value, str | int):
        raise InvalidAlert(f"{name}: expected a string, got {type(value).__name__}")
    return str(value).strip()
