"""Turn any supported raw event into an :class:`Alert`, or say why it is ignored.

Unusable input raises :class:`InvalidAlert` naming the field; input that is understood but is not an alert
(an archived finding, a non-alert event) becomes :class:`Ignored` with its reason.
"""

from __future__ import annotations

from typing import Any

from tourniquet.errors import InvalidAlert
from tourniquet.intake import guardduty
from tourniquet.intake.common import Ignored
from tourniquet.intake.model import Alert


def normalize(event: Any) -> Alert | Ignored:
    if not isinstance(event, dict):
        raise InvalidAlert(f"event: expected a JSON object, got {type(event).__name__}")
    source = event.get("source")
    detail_type = event.get("detail-type")
    if source == "aws.guardduty":
        if detail_type != "GuardDuty Finding":
            return Ignored("guardduty", f"not a finding: detail-type {detail_type!r}")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise InvalidAlert("detail: expected the GuardDuty finding object")
        return guardduty.parse_finding(detail)
    raise InvalidAlert(f"source: unsupported event source {source!r} (detail-type {detail_type!r})")
