"""`tourniquet report`: the period, the summary of incidents and their timelines, and its three forms."""

from __future__ import annotations

import json
import re
from typing import Any

from tourniquet.channels.slack import report_text
from tourniquet.reports import markdown, plain
from tourniquet.reports.summary import Incident, Spread, summarize
from tourniquet_cli.charts import spans, timeline_svg
from tourniquet_cli.report_html import render

SINCE, UNTIL = "2026-11-30T12:00:00.000Z", "2026-12-07T12:00:00.000Z"


def at(second: float) -> str:
    return f"2026-12-01T10:00:{second:06.3f}Z"


def incident(number: int, *, kind: str, status: str, events: list[dict[str, Any]]) -> Incident:
    item = {
        "incident_id": f"inc-{number}",
        "type": kind,
        "status": status,
        "first_seen": at(0),
        "alert": {"resources": [{"type": "AwsEc2Instance", "id": f"i-{number % 2}"}]},
    }
    return Incident(item=item, timeline=[{"kind": "opened", "at": at(0)}, *events])


def acted(second: float, mode: str = "auto") -> dict[str, Any]:
    return {"kind": "action", "at": at(second), "mode": mode, "status": "done", "verified": True}


INCIDENTS = [
    incident(
        1,
        kind="Backdoor:EC2/C&CActivity.B",
        status="contained",
        events=[
            {
                "kind": "planned",
                "at": at(1),
                "diagnostics": [
                    {"check": "ec2_instance", "status": "ok", "started_at": at(0.2), "finished_at": at(0.9)},
                    {"check": "cloudtrail", "status": "ok", "started_at": at(0.25), "finished_at": at(0.8)},
                ],
            },
            acted(2),
            {"kind": "approval_requested", "at": at(3), "posted": True},
            {
                "kind": "decision",
                "at": at(13),
                "decision": "approve",
                "actor": "U2",
                "approvers": ["U1", "U2"],
            },
            acted(14, "approval"),
            {"kind": "duplicate", "at": at(20)},
            {"kind": "outcome", "at": at(15), "status": "contained"},
        ],
    ),
    incident(
        2,
        kind="Backdoor:EC2/C&CActivity.B",
        status="denied",
        events=[acted(4), {"kind": "decision", "at": at(33), "decision": "deny", "actor": "U1"}],
    ),
    incident(3, kind="CPU|High", status="alerted", events=[]),
]


def test_the_summary_counts_outcomes_decisions_duplicates_and_resources():
    report = summarize(INCIDENTS, SINCE, UNTIL)

    assert report.incidents == 3
    assert report.by_type == {
        "Backdoor:EC2/C&CActivity.B": {"contained": 1, "denied": 1},
        "CPU|High": {"alerted": 1},
    }
    assert report.by_outcome == {"contained": 1, "denied": 1, "alerted": 1}
    # Linear between the closest ranks: 2 and 4 seconds give a median of 3 and a p90 of 3.8.
    assert report.time_to_contain == Spread(count=2, median=3.0, p90=3.8)
    assert report.time_to_decide == Spread(count=2, median=23.0, p90=31.0)
    # Each approver of an approval counts it; a denial counts for who denied.
    assert report.approvals_by_approver == {"U1": {"approve": 1, "deny": 1}, "U2": {"approve": 1}}
    assert report.duplicates_folded == 1
    assert report.top_resources == [
        {"resource": "AwsEc2Instance i-1", "incidents": 2},
        {"resource": "AwsEc2Instance i-0", "incidents": 1},
    ]
    assert json.loads(json.dumps(report.as_json()))["listed"][0]["contain"] == 2.0


def test_markdown_keeps_its_tables_whole_whatever_an_alert_type_holds():
    text = markdown.render(summarize(INCIDENTS, SINCE, UNTIL))

    assert "| CPU\\|High | 1 | 0 | 0 | 1 |" in text
    assert "median 3.0 s, p90 3.8 s (2 incidents)" in text
    assert "| U1 | 1 | 1 |" in text


def test_the_timeline_shows_the_diagnostics_side_by_side_and_the_approval_wait():
    rows = {row.label: row for row in spans(INCIDENTS[0].timeline)}

    assert (rows["diagnose ec2_instance (ok)"].start, rows["diagnose ec2_instance (ok)"].end) == (0.2, 0.9)
    assert (rows["diagnose cloudtrail (ok)"].start, rows["diagnose cloudtrail (ok)"].end) == (0.25, 0.8)
    assert (rows["automatic containment"].start, rows["automatic containment"].end) == (1.0, 2.0)
    assert (rows["approval wait (10.0 s)"].start, rows["approval wait (10.0 s)"].end) == (3.0, 13.0)
    assert (rows["approved steps"].start, rows["approved steps"].end) == (13.0, 14.0)
    assert rows["duplicates folded (1)"].ticks == (20.0,)


def test_the_html_report_is_one_file_with_its_charts_and_nothing_to_fetch():
    page = render(summarize(INCIDENTS, SINCE, UNTIL), INCIDENTS)

    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img" class="timeline"') == 3
    assert 'class="span wait"' in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_untrusted_text_is_escaped_in_the_charts():
    svg = timeline_svg(spans(INCIDENTS[0].timeline), title='<script>alert("x")</script>')

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_the_time_to_notify_is_the_one_the_notify_step_recorded():
    told = Incident(
        item={**INCIDENTS[2].item, "measures": {"TimeToNotify": 4.5}}, timeline=INCIDENTS[2].timeline
    )

    assert (told.measures.notify, INCIDENTS[2].measures.notify) == (4.5, None)


def test_a_release_approval_is_neither_a_decision_nor_an_outcome_of_the_incident():
    contained = INCIDENTS[0]
    released = Incident(
        item={
            **contained.item,
            "status": "released",
            "release_approval_id": "rel-1",
            "measures": {"TimeToContain": 2.0, "TimeToDecision": 10.0},
        },
        timeline=[
            *contained.timeline,
            {
                "kind": "decision",
                "at": "2026-12-04T10:00:00.000Z",
                "decision": "approve",
                "actor": "U9",
                "approval_id": "rel-1",
                "actions": ["release"],
                "approvers": ["U9"],
            },
        ],
    )

    report = summarize([released], SINCE, UNTIL)

    assert report.by_outcome == {"contained": 1}
    assert report.time_to_decide == Spread(count=1, median=10.0, p90=10.0)
    assert report.approvals_by_approver == {"U1": {"approve": 1}, "U2": {"approve": 1}}


def test_the_figures_saved_on_the_incident_are_the_ones_reported():
    saved = Incident(
        item={**INCIDENTS[1].item, "measures": {"TimeToContain": 7.5, "TimeToDecision": 40.0}},
        timeline=INCIDENTS[1].timeline,
    )

    assert (saved.measures.contain, saved.measures.decision) == (7.5, 40.0)


HOSTILE = Incident(
    item={
        "incident_id": "inc-9",
        "type": "<script>alert(1)</script>",
        "status": "denied",
        "first_seen": at(0),
        "alert": {"resources": [{"type": "AwsEc2Instance", "id": "<img src=x onerror=alert(2)>"}]},
    },
    timeline=[
        {"kind": "opened", "at": at(0)},
        {"kind": "decision", "at": at(5), "decision": "deny", "actor": "<img src=y onerror=alert(3)>&"},
    ],
)


def test_untrusted_text_is_escaped_in_the_markdown_report():
    text = markdown.render(summarize([HOSTILE], SINCE, UNTIL))

    assert "<script" not in text and "<img" not in text
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; |" in text
    assert "| AwsEc2Instance &lt;img src=x onerror=alert(2)&gt; |" in text
    assert "| &lt;img src=y onerror=alert(3)&gt;&amp; |" in text


def test_untrusted_text_is_escaped_in_the_html_report():
    page = render(summarize([HOSTILE], SINCE, UNTIL), [HOSTILE])

    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;img src=y onerror=alert(3)&gt;&amp;" in page


def test_the_weekly_message_names_approvers_without_mentioning_them():
    slack_user = "U0AB12CD34"
    decided = Incident(
        item=INCIDENTS[1].item,
        timeline=[{"kind": "decision", "at": at(3), "decision": "deny", "actor": slack_user}],
    )
    report = summarize([decided, HOSTILE], SINCE, UNTIL)
    text = report_text(plain.title(report), plain.text(report))

    assert "<@" not in text
    assert f"Decisions: &lt;img src=y onerror=alert(3)&gt;&amp; 1, {slack_user} 1" in text
