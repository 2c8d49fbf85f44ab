"""AWS Health, which moto lacks, answered by the sandbox as an account with nothing to report."""

from __future__ import annotations


def test_health_describe_events_answers_with_no_events(sandbox):
    health = sandbox.client("health")

    events = health.describe_events(filter={"entityValues": ["i-0123456789abcdef0"]})

    assert events["events"] == []


def test_other_services_still_reach_moto(sandbox):
    assert sandbox.client("sts").get_caller_identity()["Account"] == "123456789012"
