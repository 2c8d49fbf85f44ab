"""Pieces every source parser shares: the results, lenient field access, times, severities, resource
identifiers and the dedup key.

Payloads are untrusted and messy. Field access never assumes a type: a value of the wrong shape reads as
missing, so a parser either finds what it needs or raises :class:`InvalidAlert` naming the field.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import Alert, Severity
from tourniquet.state import Ignored, Resolved

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 2048
TEXT_LIMIT = 512
LABEL_KEY_LIMIT = 128
MAX_LABELS = 50
# Times before this are placeholders ("0001-01-01T00:00:00Z" is Alertmanager's "not set").
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


Outcome = Alert | Ignored | Resolved


@dataclass(frozen=True)
class Part:
    """One alert of a delivery: where it sits, a raw event that carries only it, and how to normalize it.

    ``event`` is what a NormalizeAlert state receives when the delivery is split into one execution per
    alert. ``parse`` names fields by their place in the original delivery (``alerts[3].labels.alertname``).
    """

    path: str
    event: dict[str, Any]
    parse: Callable[[], Outcome]


def invalid(field: str, problem: str) -> InvalidAlert:
    return InvalidAlert(f"{field}: {problem}", field=field)


def join(at: str, name: str) -> str:
    """A field path: ``join("detail", "id")`` is ``detail.id``, ``join("alerts", "[2]")`` is ``alerts[2]``."""
    if not at:
        return name
    return f"{at}{name}" if name.startswith("[") else f"{at}.{name}"


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def scalar(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    """A non-blank string or number as text (clipped); ``None`` for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float):
        found = str(value).strip()
        return found[:limit] if found else None
    return None


def first(*values: Any) -> str | None:
    """The first value that reads as text."""
    for value in values:
        found = scalar(value)
        if found is not None:
            return found
    return None


def text(value: Any, name: str) -> str:
    """A required, non-empty string field; the error names the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid(name, "required field is missing")
    found = scalar(value)
    if found is None:
        raise invalid(name, f"expected a string, got {type(value).__name__}")
    return found


def clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def flag(value: Any) -> bool:
    """True for ``true``, ``"true"``, ``"yes"`` or ``"1"``; anything else is false."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "yes", "1")


def number(value: Any) -> float | None:
    """A finite number from a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            found = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    elif isinstance(value, str):
        try:
            found = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return found if math.isfinite(found) else None


def count(value: Any) -> int:
    """A repeat count of at least 1 (a missing or unreadable count is one sighting)."""
    found = number(value)
    return max(int(found), 1) if found is not None and found < 2**31 else 1


def labels(values: Mapping[Any, Any]) -> dict[str, str]:
    """String labels from a mapping: scalar values only, keys and values clipped, at most a few dozen."""
    found: dict[str, str] = {}
    for key, value in values.items():
        name = scalar(key, LABEL_KEY_LIMIT)
        text_value = scalar(value)
        if name is not None and text_value is not None:
            found[name] = text_value
            if len(found) == MAX_LABELS:
                break
    return found


# Times -------------------------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?)?\s*"
    r"(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_time(value: Any) -> datetime | None:
    """A moment from ISO 8601 in its many real-world spellings (space separator, nanoseconds, ``+0000``,
    no zone at all, which counts as UTC) or epoch seconds or milliseconds; ``None`` when unreadable."""
    match = _ISO.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        found = number(value)
        return _from_epoch(found) if found is not None else None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    zone_info = UTC
    if zone and zone[0] in "+-":
        digits = zone[1:].replace(":", "").ljust(4, "0")
        minutes = int(digits[:2]) * 60 + int(digits[2:4])
        if minutes >= 24 * 60:
            return None
        zone_info = timezone(timedelta(minutes=minutes if zone[0] == "+" else -minutes))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            zone_info,
        )
    except ValueError:
        return None
    return moment if _EARLIEST <= moment < _LATEST else None


def _from_epoch(value: float) -> datetime | None:
    seconds = value / 1000 if value > 1e11 else value
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment if _EARLIEST <= moment < _LATEST else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def optional_time(*values: Any) -> str | None:
    """The first readable time among ``values``, as ISO 8601 UTC."""
    for value in values:
        moment = parse_time(value)
        if moment is not None:
            return iso(moment)
    return None


def time_or_now(*values: Any) -> str:
    """The first readable time among ``values``; when the source gives none, the time it arrived."""
    return optional_time(*values) or iso(datetime.now(UTC))


# Severities --------------------------------------------------------------------------------------------


def from_score(score: float) -> Severity:
    """GuardDuty's documented bands: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.INFORMATIONAL


def from_normalized(score: float) -> Severity:
    """ASFF ``Severity.Normalized`` (0-100): 0 informational, 1-39 low, 40-69 medium, 70-89 high, 90+
    critical."""
    if score >= 90:
        return Severity.CRITICAL
    if score >= 70:
        return Severity.HIGH
    if score >= 40:
        return Severity.MEDIUM
    if score >= 1:
        return Severity.LOW
    return Severity.INFORMATIONAL


_LABELS: dict[str, Severity] = {
    **dict.fromkeys(
        ("critical", "crit", "fatal", "emergency", "emerg", "disaster", "p0", "p1", "sev0", "sev1"),
        Severity.CRITICAL,
    ),
    **dict.fromkeys(("high", "error", "err", "major", "severe", "page", "p2", "sev2"), Severity.HIGH),
    **dict.fromkeys(("medium", "moderate", "warning", "warn", "average", "p3", "sev3"), Severity.MEDIUM),
    **dict.fromkeys(("low", "minor", "notice", "p4", "sev4"), Severity.LOW),
    **dict.fromkeys(
        ("informational", "information", "info", "debug", "none", "p5", "sev5"), Severity.INFORMATIONAL
    ),
}


def from_label(value: Any) -> Severity | None:
    """A severity word (``critical``, ``Warning``, ``P2``, ``sev-1``…); ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    return _LABELS.get(re.sub(r"[^a-z0-9]", "", value.lower()))


# Resources ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(value: Any) -> Arn | None:
    """The parts of an ARN, whatever its partition (real payloads carry wrong ones); ``None`` if not one."""
    found = scalar(value, 2048)
    if found is None:
        return None
    parts = found.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return Arn(*parts[1:])


def short_id(value: str) -> str:
    """The resource's own id from an ARN or an ASFF id: ``arn:…:instance/i-1`` → ``i-1``,
    ``arn:aws:s3:::bucket`` → ``bucket``, ``arn:…:function:name:3`` → ``name``,
    ``AWS::IAM::AccessKey:AKIA…`` → ``AKIA…``. Anything else is returned as is."""
    arn = parse_arn(value)
    if arn is not None:
        resource = arn.resource
        if "/" in resource:
            return resource.rsplit("/", 1)[-1] or resource
        if ":" in resource:
            return resource.split(":")[1] or resource
        return resource
    if value.startswith("AWS::") and ":" in value:
        return value.rsplit(":", 1)[-1] or value
    return value


# The subject of a finding (what the incident is about) when several resources are named: the workload
# before the host it runs on, any resource before the access key that acted on it.
_SUBJECT_ORDER = (
    "AwsEksCluster",
    "AwsEcsCluster",
    "Container",
    "AwsEc2Instance",
    "AwsRdsDbInstance",
    "AwsLambdaFunction",
    "AwsS3Bucket",
)


def subject_rank(resource_type: str) -> int:
    if resource_type in _SUBJECT_ORDER:
        return _SUBJECT_ORDER.index(resource_type)
    return len(_SUBJECT_ORDER) + (1 if resource_type == "AwsIamAccessKey" else 0)


def dedup_key(account: str, region: str, finding_type: str, resource_id: str) -> str:
    """Same account, region, type and resource: the same problem, whoever reports it and however often."""
    basis = "|".join((account, region, finding_type.lower(), resource_id.lower()))
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def build(**fields: Any) -> Alert:
    """The alert, or :class:`InvalidAlert` naming the model field a parser could not fill."""
    try:
        return Alert(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "alert"
        raise invalid(name, str(error["msg"])) from exc
