"""The weekly report on the channels that carry reports, without AWS: its plain text, the Teams card and the
e-mail, each with alert text that tries to make markup, and which configured channels a report goes to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tourniquet.channels import Bound, ChannelFailed, ReportChannel, Update, routing
from tourniquet.channels.email import Email, report_subject
from tourniquet.channels.pagerduty import PagerDuty
from tourniquet.channels.slack import SlackChannel
from tourniquet.channels.teams import CARD_CONTENT_TYPE, Teams, report_card
from tourniquet.reports import plain
from tourniquet.reports.summary import Report, Spread

HOSTILE_TYPE = "Recon:EC2/[click](https://evil.example) *now*"
HOSTILE_RESOURCE = "AwsEc2Instance i-0<script>alert(1)</script>"


def report(**changes: Any) -> Report:
    values: dict[str, Any] = {
        "since": "2026-11-30T10:00:00.000Z",
        "until": "2026-12-07T10:00:00.000Z",
        "incidents": 3,
        "by_type": {HOSTILE_TYPE: {"contained": 2, "denied": 1}},
        "by_outcome": {"contained": 2, "denied": 1},
        "time_to_contain": Spread(2, 2.0, 3.8),
        "time_to_decide": Spread(1, 65.0, 65.0),
        "approvals_by_approver": {"U0AAAAAAA": {"approve": 1}},
        "duplicates_folded": 4,
        "top_resources": [
            {"resource": HOSTILE_RESOURCE, "incidents": 2},
            {"resource": "- a list", "incidents": 1},
        ],
    }
    return Report(**{**values, **changes})


def test_the_report_title_names_the_count_and_the_dates():
    assert plain.title(report()) == "Weekly report: 3 incidents, 2026-11-30 to 2026-12-07"


def test_the_report_text_is_plain_and_carries_the_figures():
    text = plain.text(report())

    assert text.splitlines() == [
        "3 incidents: 2 contained, 1 denied; 4 duplicate alerts folded",
        "Time to contain: median 2.0 s, p90 3.8 s (2 incidents)",
        "Time to decide: median 1 min 5 s, p90 1 min 5 s (1 incidents)",
        "Decisions: U0AAAAAAA 1",
        f"Most affected: {HOSTILE_RESOURCE} (2), - a list (1)",
        "Details: tourniquet report --since 7d --format html",
    ]
    # No Slack markup (mentions, code spans, entities, emphasis): each channel escapes for its own.
    assert [token for token in ("<@", "`", "&lt;", "*") if token in text] == []


def test_the_teams_report_card_escapes_markdown_in_alert_text():
    card = report_card(
        plain.title(report()),
        plain.text(report(top_resources=[{"resource": "[click](https://evil.example)", "incidents": 2}])),
    )
    texts = [block["text"] for block in card["body"]]

    assert card["type"] == "AdaptiveCard"
    assert card["actions"] == []
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "Weekly report: 3 incidents, 2026-11-30 to 2026-12-07",
        "wrap": True,
        "weight": "Bolder",
        "size": "Medium",
    }
    assert "Most affected: \\[click\\](https://evil.example) (2)" in texts
    assert not [t for t in texts if "[click](" in t]


def test_the_teams_report_message_is_one_adaptive_card_and_a_line_cannot_start_a_list(
    monkeypatch: pytest.MonkeyPatch,
):
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "tourniquet.channels.teams.post_json", lambda url, body, bound, what: posted.append(body)
    )

    Teams("https://example.webhook.office.com/x").send_report(
        "Weekly report", "- a list\n\n# a heading", Bound()
    )

    [message] = posted
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    assert [b["text"] for b in attachment["content"]["body"][1:]] == ["\\- a list", "\\# a heading"]


def test_the_report_email_has_a_readable_one_line_subject_and_the_plain_text_as_its_body(
    monkeypatch: pytest.MonkeyPatch,
):
    published: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **request: Any) -> None:
            published.append(request)

    monkeypatch.setattr("tourniquet.channels.email.aws.client", lambda service, config: Sns())
    text = plain.text(report())

    Email("arn:aws:sns:eu-west-1:123456789012:mail").send_report(plain.title(report()), text, Bound())

    [request] = published
    assert request["Subject"] == "[Tourniquet] Weekly report: 3 incidents, 2026-11-30 to 2026-12-07"
    # SNS sends e-mail as plain text: the hostile resource is shown as written, never as markup.
    assert request["Message"] == text
    assert HOSTILE_RESOURCE in request["Message"]


def test_a_report_subject_stays_one_line_of_printable_ascii():
    assert report_subject("Weekly\nreport: 3 incidents — ✓") == "[Tourniquet] Weekly report: 3 incidents ? ?"
    assert len(report_subject("x" * 300)) == 100


def test_slack_teams_and_email_carry_reports_and_pagerduty_does_not():
    assert issubclass(SlackChannel, ReportChannel)
    assert issubclass(Teams, ReportChannel)
    assert issubclass(Email, ReportChannel)
    assert not issubclass(PagerDuty, ReportChannel)
    assert [name for name in routing.CHANNELS if routing.carries_reports(name)] == ["slack", "teams", "email"]


def test_a_report_goes_to_every_report_channel_whatever_its_route_and_a_failure_is_returned(
    monkeypatch: pytest.MonkeyPatch,
):
    sent: list[tuple[str, str, str]] = []

    class Pager:
        name = "pagerduty"

        @classmethod
        def connect(cls) -> Pager:
            raise AssertionError("PagerDuty is never connected for a report")

        def send(self, _update: Update, _bound: Bound) -> None: ...

    class Carrier:
        name = "teams"

        @classmethod
        def connect(cls) -> Carrier:
            return cls()

        def send(self, _update: Update, _bound: Bound) -> None: ...

        def send_report(self, title: str, text: str, _bound: Bound) -> None:
            sent.append((self.name, title, text))

    class Down(Carrier):
        name = "email"

        def send_report(self, title: str, text: str, _bound: Bound) -> None:
            raise ChannelFailed("SNS could not be reached (EndpointConnectionError)")

    monkeypatch.setattr(routing, "CHANNELS", {"pagerduty": Pager, "teams": Carrier, "email": Down})
    # Routes that would take no LOW incident of this playbook: a report is about every incident.
    routes = {"severities": ["CRITICAL"], "playbooks": ["guardduty-*"]}
    monkeypatch.setenv("CHANNEL_ROUTES", json.dumps(dict.fromkeys(("pagerduty", "teams", "email"), routes)))

    results = routing.deliver_report("Weekly report", "3 incidents")

    assert results == {"teams": "sent", "email": "SNS could not be reached (EndpointConnectionError)"}
    assert sent == [("teams", "Weekly report", "3 incidents")]
