"""Integers beyond any float, wherever a parser reads a number: no number, never an OverflowError.

The webhook refuses such bodies at the edge; the deliveries the dispatcher and NormalizeAlert read directly
(SNS, saved payloads) reach the parsers as they are.
"""

from __future__ import annotations

from tourniquet.intake.common import count, number, parse_time
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize


def test_an_integer_beyond_any_float_reads_as_no_number():
    assert number(10**400) is None
    assert number(-(10**400)) is None
    assert parse_time(10**400) is None
    assert count(10**400) == 1


def test_a_delivery_with_such_an_integer_still_normalizes():
    delivery = {
        "alerts": [{"labels": {"alertname": "HighCPU"}, "startsAt": 10**400}],
        "truncatedAlerts": 10**400,
    }

    alert = normalize(delivery)

    assert isinstance(alert, Alert)
    assert alert.first_seen is None
