"""The channels besides Slack, without AWS: what each one sends, how a failing one is retried within its
bound, and how routing picks the channels and survives a failing one."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.channels import PAGERDUTY, TEAMS, ChannelStandIns
from tourniquet.channels import Bound, ChannelFailed, Update, UpdateKind, http, plain, routing
from tourniquet.channels.base import STATUS_CHANGES, has_stack_trace
from tourniquet.channels.email import body, subject
from tourniquet.channels.http import check_url, post_json
from tourniquet.channels.pagerduty import PagerDuty
from tourniquet.channels.teams import Teams, card
from tourniquet.settings import ChannelRoute

QUICK = Bound(attempts=3, timeout=0.5, total=3.0)


def update(kind: UpdateKind = UpdateKind.OPENED, **changes: Any) -> Update:
    values: dict[str, Any] = {
        "kind": kind,
        "incident_id": "inc-0123456789ab",
        "severity": "CRITICAL",
        "title": "Credentials used from [a link](https://evil.example) *now*",
        "status": "needs a human",
        "summary": "Nothing was done automatically.",
        "playbook": "guardduty-attack-sequence",
        "facts": (("Account", "123456789012"), ("Region", "eu-west-1")),
        "diagnostics": ("Actor's CloudTrail: 12 events",),
        "next_steps": ("Rotate the keys.", "- Review the role."),
        "links": (("GuardDuty finding", "https://eu-west-1.console.aws.amazon.com/guardduty/home"),),
        "first_seen": "2026-12-07T08:00:00.000Z",
        "last_seen": "2026-12-07T08:05:00.000Z",
        "count": 3,
        "resource": "ci-deployer",
        "finding_type": "AttackSequence:IAM/CompromisedCredentials",
    }
    values.update(changes)
    return Update(**values)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pause between attempts, shortened: what is tested is how many attempts, not how long each waits."""
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.01)


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[ChannelStandIns]:
    running = ChannelStandIns().start()
    yield running
    running.stop()


# PagerDuty


@pytest.mark.parametrize(
    ("kind", "action", "dedup_key"),
    [
        (UpdateKind.OPENED, "trigger", "inc-0123456789ab"),
        (UpdateKind.ACKNOWLEDGED, "acknowledge", "inc-0123456789ab"),
        (UpdateKind.CLOSED, "resolve", "inc-0123456789ab"),
        (UpdateKind.RELEASED, "resolve", "inc-0123456789ab"),
        (UpdateKind.EXPIRED, "trigger", "inc-0123456789ab:approval-expired"),
        (UpdateKind.FAILED, "trigger", "inc-0123456789ab"),
    ],
)
def test_pagerduty_follows_the_incident_on_one_dedup_key(kind, action, dedup_key):
    event = PagerDuty("routing-key", "https://events.pagerduty.com/v2/enqueue").event(update(kind))

    assert (event["event_action"], event["dedup_key"], event["routing_key"]) == (
        action,
        dedup_key,
        "routing-key",
    )


def test_a_pagerduty_trigger_maps_the_severity_and_carries_the_details_and_links():
    event = PagerDuty("k", "https://events.pagerduty.com/v2/enqueue").event(update(severity="HIGH"))

    payload = event["payload"]
    assert payload["severity"] == "error"
    assert payload["summary"].startswith("HIGH · needs a human · Credentials used")
    assert payload["component"] == "ci-deployer"
    assert payload["custom_details"]["Account"] == "123456789012"
    assert payload["custom_details"]["count"] == 3
    assert payload["custom_details"]["next_steps"] == ["Rotate the keys.", "- Review the role."]
    assert event["links"] == [
        {"href": "https://eu-west-1.console.aws.amazon.com/guardduty/home", "text": "GuardDuty finding"}
    ]


def test_an_expired_approval_pages_at_high_urgency_whatever_the_severity():
    event = PagerDuty("k", "https://events.pagerduty.com/v2/enqueue").event(
        update(UpdateKind.EXPIRED, severity="LOW")
    )

    assert event["payload"]["severity"] == "critical"


# Teams and e-mail


def test_the_teams_card_escapes_the_alerts_markdown_and_names_who_approves():
    note = "Approval needed: approve in Slack #security-incidents, or `tourniquet approve inc-1 --approve`."
    shown = json.dumps(card(update(approval=note)))

    assert "\\\\[a link\\\\](https://evil.example) \\\\*now\\\\*" in shown
    assert "\\\\- Review the role." in shown
    assert "#security-incidents" in shown and "tourniquet approve inc-1" in shown
    assert '"Action.OpenUrl"' in shown


def test_a_teams_follow_up_is_a_short_card_of_the_change():
    follow_up = card(update(UpdateKind.ACKNOWLEDGED, status="acknowledged", by="U0APPROVER"))

    texts = [block.get("text", "") for block in follow_up["body"]]
    assert texts[0] == "Update on incident inc-0123456789ab"
    assert "Status: acknowledged" in texts
    assert not any(block["type"] == "FactSet" for block in follow_up["body"])


def test_the_email_has_a_readable_subject_and_body():
    assert (
        subject(update())
        == (
            "[Tourniquet] CRITICAL needs a human: Credentials used from [a link](https://evil.example) *now*"
        )[:100]
    )
    text = body(update())
    assert text.startswith("Incident inc-0123456789ab: needs a human\n\nNothing was done automatically.")
    assert "First seen: 2026-12-07T08:00:00.000Z" in text
    assert "Next steps (runbook):\n1. Rotate the keys." in text
    assert text.endswith("The timeline: tourniquet incident show inc-0123456789ab")


def test_a_failure_names_its_reason_and_what_to_do_next_on_every_channel():
    failed = update(
        UpdateKind.FAILED,
        status="failed",
        summary="containment could not be carried out on i-0a1b2c3d4e5f67890",
        reason="eni-1 refused",
        next_step="Contain the resource by hand.",
    )

    told = body(failed)
    assert "containment could not be carried out on i-0a1b2c3d4e5f67890\n\neni-1 refused\n\n" in told
    assert "What to do next: Contain the resource by hand." in told
    texts = [block.get("text") for block in card(failed)["body"]]
    assert texts[3:5] == ["eni-1 refused", "What to do next: Contain the resource by hand."]
    details = PagerDuty("key", "https://events.pagerduty.com/v2/enqueue").event(failed)["payload"]
    assert (details["custom_details"]["reason"], details["custom_details"]["next"]) == (
        "eni-1 refused",
        "Contain the resource by hand.",
    )


def test_an_email_subject_is_one_line_of_printable_ascii():
    assert (
        subject(update(title="Bad\nline — ünïcode"))
        == "[Tourniquet] CRITICAL needs a human: Bad line ? ?n?code"
    )


# Plain words


def test_plain_cuts_a_stack_trace_and_keeps_what_came_before():
    text = 'volume busy\nTraceback (most recent call last):\n  File "/var/task/x.py", line 3, in f\nKeyError'

    assert plain(text) == "volume busy"
    assert has_stack_trace(text)
    assert not has_stack_trace(plain(text))


# Delivery within a bound


def test_a_5xx_is_retried_and_then_delivered(stand_ins: ChannelStandIns):
    stand_ins.fail_next(TEAMS, status=503)
    before = len(stand_ins.received(TEAMS))

    Teams(stand_ins.teams_url).send(update(), QUICK)

    assert [r.status for r in stand_ins.received(TEAMS)[before:]] == [503, 202]


def test_a_429_waits_its_retry_after_when_that_fits_the_bound(stand_ins: ChannelStandIns):
    stand_ins.fail_next(PAGERDUTY, status=429, retry_after="0.2")
    before = len(stand_ins.received(PAGERDUTY))
    began = time.monotonic()

    PagerDuty(stand_ins.routing_key, stand_ins.pagerduty_url).send(update(), QUICK)

    assert time.monotonic() - began >= 0.2
    assert [r.status for r in stand_ins.received(PAGERDUTY)[before:]] == [429, 202]


def test_a_429_whose_retry_after_exceeds_the_bound_fails_at_once(stand_ins: ChannelStandIns):
    stand_ins.fail_next(PAGERDUTY, status=429, retry_after="120")
    began = time.monotonic()

    with pytest.raises(ChannelFailed, match=r"^PagerDuty rate limited \(HTTP 429\), after 1 attempt$"):
        PagerDuty(stand_ins.routing_key, stand_ins.pagerduty_url).send(update(), QUICK)
    assert time.monotonic() - began < 1


def test_a_4xx_is_final(stand_ins: ChannelStandIns):
    before = len(stand_ins.received(PAGERDUTY))

    with pytest.raises(ChannelFailed, match=r"^PagerDuty refused the message \(HTTP 400\)$"):
        PagerDuty("not-the-routing-key", stand_ins.pagerduty_url).send(update(), QUICK)
    assert len(stand_ins.received(PAGERDUTY)) == before + 1


def test_a_channel_that_never_answers_times_out_within_the_bound():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(ChannelFailed, match=r"^Teams timed out, after 2 attempts$"):
            post_json(f"http://127.0.0.1:{port}/", {}, Bound(attempts=2, timeout=0.2, total=2), what="Teams")
    assert time.monotonic() - began < 2


def test_only_https_urls_are_used_except_on_the_loopback():
    assert check_url("https://example.webhook.office.com/x", "URL")
    assert check_url("http://127.0.0.1:8080/x", "URL")
    with pytest.raises(ChannelFailed, match="is not an https URL"):
        check_url("http://example.com/x", "Teams webhook URL")


# Routing


def test_routes_pick_channels_by_severity_and_playbook():
    routes = {
        "pagerduty": ChannelRoute(severities=("CRITICAL", "HIGH"), playbooks=("guardduty-*",)),
        "teams": ChannelRoute(),
        "email": ChannelRoute(severities=("LOW",)),
        "carrier-pigeon": ChannelRoute(),
    }

    assert routing.routed(update(), routes) == ["pagerduty", "teams"]
    assert routing.routed(update(playbook="rds-login-anomaly"), routes) == ["teams"]
    assert routing.routed(update(severity="UNKNOWN", playbook=""), routes) == ["pagerduty", "teams", "email"]


def test_slack_hears_of_every_incident_unless_a_route_is_configured_for_it(monkeypatch: pytest.MonkeyPatch):
    closed = update(UpdateKind.CLOSED, severity="HIGH", status="contained")
    monkeypatch.setenv("CHANNEL_ROUTES", json.dumps({"teams": {"severities": ["CRITICAL"]}}))
    assert routing.configured_routes()["slack"] == ChannelRoute()
    assert routing.routed(closed, routing.configured_routes()) == ["slack"]

    monkeypatch.setenv("CHANNEL_ROUTES", json.dumps({"slack": {"severities": ["CRITICAL"]}, "teams": {}}))
    assert routing.routed(closed, routing.configured_routes()) == ["teams"]
    assert routing.routed(update(UpdateKind.CLOSED), routing.configured_routes()) == ["slack", "teams"]


def test_each_channel_is_routed_only_the_kinds_of_update_it_tells():
    routes = {name: ChannelRoute() for name in ("slack", "pagerduty", "teams", "email")}

    # The approval gate's cards show these in Slack.
    assert routing.routed(update(UpdateKind.OPENED), routes) == ["pagerduty", "teams", "email"]
    assert routing.routed(update(UpdateKind.ACKNOWLEDGED), routes) == ["pagerduty", "teams", "email"]
    # A repeat and a dry run are for the card's thread only.
    assert routing.routed(update(UpdateKind.REPEATED), routes) == ["slack"]
    assert routing.routed(update(UpdateKind.RELEASE_PLANNED), routes) == ["slack"]
    assert routing.routed(update(UpdateKind.FAILED), routes) == ["slack", "pagerduty", "teams", "email"]


def test_a_failing_channel_is_recorded_and_blocks_neither_another_channel_nor_the_caller(
    monkeypatch: pytest.MonkeyPatch,
):
    recorded: list[tuple[str, str, dict[str, Any]]] = []
    delivered = threading.Event()

    class Stub:
        kinds = STATUS_CHANGES

        @classmethod
        def connect(cls) -> Stub:
            return cls()

    class Down(Stub):
        name = "pagerduty"

        def send(self, _update: Update, _bound: Bound) -> None:
            delivered.wait(2)  # the other channel is not held up by this one
            raise ChannelFailed("PagerDuty unavailable (HTTP 503), after 3 attempts")

    class Up(Stub):
        name = "teams"

        def send(self, _update: Update, _bound: Bound) -> None:
            delivered.set()

    class Broken(Stub):
        name = "email"

        def send(self, _update: Update, _bound: Bound) -> None:
            raise KeyError("a defect")

    monkeypatch.setattr(routing, "CHANNELS", {"pagerduty": Down, "teams": Up, "email": Broken})
    monkeypatch.setenv("CHANNEL_ROUTES", json.dumps({"pagerduty": {}, "teams": {}, "email": {}}))
    monkeypatch.setattr(routing.store, "append_event", lambda i, k, **d: recorded.append((i, k, d)))

    results = routing.deliver(update())

    assert results == {
        "pagerduty": "PagerDuty unavailable (HTTP 503), after 3 attempts",
        "teams": "sent",
        "email": "email failed unexpectedly (KeyError)",
    }
    assert [(i, k, d["channel"]) for i, k, d in recorded] == [
        ("inc-0123456789ab", "channel_error", "pagerduty"),
        ("inc-0123456789ab", "channel_error", "email"),
    ]


def test_a_failure_before_the_plan_reaches_every_channel_whatever_their_routes():
    """Its playbook is not known yet (""), so no route can tell whether it is theirs: each one is told."""
    routes = {
        "slack": ChannelRoute(playbooks=("ec2_*",)),
        "pagerduty": ChannelRoute(severities=("CRITICAL",), playbooks=("guardduty-*",)),
        "teams": ChannelRoute(playbooks=("rds-*",)),
    }

    assert routing.routed(update(UpdateKind.FAILED, severity="HIGH", playbook=""), routes) == [
        "slack",
        "pagerduty",
        "teams",
    ]
    # Other updates still follow the routes.
    assert routing.routed(update(UpdateKind.CLOSED, severity="HIGH", playbook=""), routes) == []


def test_a_failure_always_reaches_slack_whatever_its_route():
    """Slack carries the card people act on."""
    routes = {
        "slack": ChannelRoute(severities=("CRITICAL",), playbooks=("ec2_*",)),
        "teams": ChannelRoute(severities=("CRITICAL",)),
    }
    failed = update(UpdateKind.FAILED, severity="LOW", playbook="rds-login-anomaly")

    assert routing.routed(failed, routes) == ["slack"]
    assert (
        routing.routed(update(UpdateKind.CLOSED, severity="LOW", playbook="rds-login-anomaly"), routes) == []
    )
