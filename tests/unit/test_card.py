"""The Slack approval card: every section, the buttons, escaping of untrusted text, and the decided states."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import load_event, plan_state
from tourniquet.approval import card
from tourniquet.approval.model import ApprovalRequest, ApprovalStatus, CardContext
from tourniquet.intake.model import Actor, Alert, Severity
from tourniquet.intake.normalize import normalize
from tourniquet.settings import Settings

APPROVAL_ID = "Zq3v9Xl0a1B2c3D4e5F6gA"
TOKEN = "AQCIAAAAKgAAAAMAAAAAAAAAA" + "t0k3n" * 300
INSTANCE = "i-0a1b2c3d4e5f67890"
EXPIRES = "2026-11-20T10:14:33.000Z"

DIAGNOSTICS: list[dict[str, Any]] = [
    {
        "check": "ec2_instance",
        "status": "ok",
        "summary": {
            "instance_id": INSTANCE,
            "state": "running",
            "instance_type": "m5.large",
            "public_ip": "54.78.12.34",
            "private_ip": "10.0.1.23",
            "iam_instance_profile": "arn:aws:iam::123456789012:instance-profile/web-app-profile",
            "protected": False,
            "tags": {"Name": "web-1"},
        },
    },
    {
        "check": "cloudtrail",
        "status": "ok",
        "summary": {
            "instance_id": INSTANCE,
            "count": 42,
            "truncated": False,
            "event_names": {"DescribeInstances": 30, "RunInstances": 8, "CreateKeyPair": 4},
            "errors": {"AccessDenied": 3},
            "source_ips": ["198.51.100.7", "203.0.113.9"],
        },
    },
]
CONTAINED: list[dict[str, Any]] = [
    {"action": "tag_instance", "target": {"id": INSTANCE}, "status": "done", "verified": True, "detail": {}},
    {
        "action": "snapshot_volumes",
        "target": {"id": INSTANCE},
        "status": "done",
        "verified": True,
        "detail": {},
    },
    {
        "action": "isolate_network",
        "target": {"id": INSTANCE},
        "status": "refused",
        "verified": False,
        "detail": {},
    },
]


def _alert(**changes: Any) -> Alert:
    alert = normalize(load_event("guardduty_ec2_finding"))
    assert isinstance(alert, Alert)
    return alert.model_copy(update=changes)


def _request(alert: Alert | None = None, diagnostics: list[dict[str, Any]] | None = None) -> ApprovalRequest:
    alert = alert or _alert()
    return ApprovalRequest.model_validate(
        {
            "task_token": TOKEN,
            "execution_id": "arn:aws:states:eu-west-1:123456789012:execution:tourniquet:run-1",
            "incident": {
                "id": "inc-0123456789ab",
                "duplicate": False,
                "duplicate_count": 2,
                "dedup_key": "k",
            },
            "alert": alert.model_dump(mode="json"),
            # The card is tested on a fixed plan, whatever the playbooks say today.
            "plan": {
                **plan_state(alert, DIAGNOSTICS, Settings(APPROVAL_TIMEOUT_SECONDS=3600)),
                "automatic": ["tag_instance", "preserve_evidence", "snapshot_volumes", "isolate_network"],
                "approval": ["stop_instance"],
            },
            "diagnostics": DIAGNOSTICS if diagnostics is None else diagnostics,
            "contained": CONTAINED,
        }
    )


def _context(**kwargs: Any) -> CardContext:
    return _request(**kwargs).context()


def _rendered(blocks: list[Any]) -> list[dict[str, Any]]:
    """The JSON Slack receives; ``to_dict`` also enforces Slack's length limits."""
    return [block.to_dict() for block in blocks]


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _block(blocks: list[dict[str, Any]], starting: str) -> str:
    matches = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    found = [text for text in matches if text.startswith(starting)]
    assert found, f"no section starting with {starting!r}"
    return found[0]


def test_card_shows_every_section():
    blocks = _rendered(card.approval_card(_context(), APPROVAL_ID, EXPIRES))

    header = blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"].startswith("🟠 HIGH · EC2 instance i-0a1b2c3d4e5f67890 is querying")
    fields = [field["text"] for field in blocks[1]["fields"]]
    assert fields == [
        "*Source*\nguardduty (GuardDuty)",
        "*Finding type*\nCryptoCurrency:EC2/BitcoinTool.B!DNS",
        f"*Resource*\n{INSTANCE} (AwsEc2Instance)",
        "*Account*\n123456789012",
        "*Region*\neu-west-1",
    ]
    diagnostics = _block(blocks, "*Diagnostics*")
    assert "*Instance*: state running · m5.large · public IP 54.78.12.34" in diagnostics
    assert "profile web-app-profile" in diagnostics
    assert (
        "*CloudTrail*: 42 events · top: DescribeInstances (30), RunInstances (8), CreateKeyPair (4)"
        in diagnostics
    )
    assert "errors: AccessDenied (3)" in diagnostics
    assert "source IPs: 198.51.100.7, 203.0.113.9" in diagnostics
    assert _block(blocks, "*Done automatically*").splitlines()[1:] == [
        "✅ tag_instance: done",
        "✅ snapshot_volumes: done",
        "⚠️ isolate_network: refused, not verified",
    ]
    assert _block(blocks, "*Requires approval*") == f"*Requires approval*\n• stop_instance on `{INSTANCE}`"
    next_steps = _block(blocks, "*Next steps (runbook)*").splitlines()
    assert next_steps[1].startswith("1. Read the CloudTrail summary on the Slack card")
    assert len(next_steps) == 4
    text = _texts(blocks)
    assert (
        "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1"
        f"#InstanceDetails:instanceId={INSTANCE}|Instance in the EC2 console"
    ) in text
    assert "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1" in text
    assert "fId=92cc3f3c6d1f4a6bb51a7c3f1e0a1b2c|GuardDuty finding" in text
    assert "Incident `inc-0123456789ab` · duplicates: 2" in text
    assert "runbook `docs/runbooks/ec2-instance-compromise.md`" in text
    expires = int(datetime.fromisoformat(EXPIRES.replace("Z", "+00:00")).timestamp())
    assert f"⏳ Expires <!date^{expires}^{{date_short_pretty}} at {{time}}|2026-11-20 10:14 UTC>" in text


def test_card_names_the_actor_when_the_alert_has_one():
    alert = _alert(
        actor=Actor(
            principal="arn:aws:iam::123456789012:user/ci", principal_type="IAMUser", ip="198.51.100.7"
        )
    )

    blocks = _rendered(card.approval_card(_context(alert=alert), APPROVAL_ID, EXPIRES))

    fields = [field["text"] for field in blocks[1]["fields"]]
    assert "*Actor*\narn:aws:iam::123456789012:user/ci (IAMUser) from 198.51.100.7" in fields


def test_card_reports_an_unavailable_diagnostic():
    diagnostics = [
        DIAGNOSTICS[0],
        {"check": "cloudtrail", "status": "unavailable", "error": "States.Timeout"},
    ]

    blocks = _rendered(card.approval_card(_context(diagnostics=diagnostics), APPROVAL_ID, EXPIRES))

    assert "⚠️ *CloudTrail*: unavailable (States.Timeout)" in _block(blocks, "*Diagnostics*")


@pytest.mark.parametrize(
    ("severity", "indicator"),
    [
        (Severity.CRITICAL, "🔴 CRITICAL"),
        (Severity.HIGH, "🟠 HIGH"),
        (Severity.MEDIUM, "🟡 MEDIUM"),
        (Severity.LOW, "🔵 LOW"),
        (Severity.INFORMATIONAL, "⚪ INFORMATIONAL"),
    ],
)
def test_severity_indicator(severity, indicator):
    blocks = _rendered(card.approval_card(_context(alert=_alert(severity=severity)), APPROVAL_ID, EXPIRES))

    assert blocks[0]["text"]["text"].startswith(f"{indicator} · ")


def test_buttons_carry_only_the_approval_id_never_the_token():
    request = _request()

    blocks = _rendered(card.approval_card(request.context(), APPROVAL_ID, EXPIRES))

    assert TOKEN not in _texts(blocks)
    assert TOKEN[:24] not in _texts(blocks)
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 1
    buttons = {button["action_id"]: button for button in actions[0]["elements"]}
    assert set(buttons) == {"approve", "deny"}
    assert {button["value"] for button in buttons.values()} == {APPROVAL_ID}


def test_approve_is_a_danger_button_with_a_confirm_dialog_naming_the_actions():
    blocks = _rendered(card.approval_card(_context(), APPROVAL_ID, EXPIRES))

    approve = next(b for b in blocks if b["type"] == "actions")["elements"][0]
    assert approve["action_id"] == "approve"
    assert approve["style"] == "danger"
    confirm = approve["confirm"]
    assert confirm["style"] == "danger"
    assert confirm["text"]["type"] == "plain_text"
    assert "stop_instance" in confirm["text"]["text"]
    assert INSTANCE in confirm["text"]["text"]
    assert confirm["confirm"]["text"] == "Approve"
    assert confirm["deny"]["text"] == "Cancel"
    deny = next(b for b in blocks if b["type"] == "actions")["elements"][1]
    assert deny["action_id"] == "deny"
    assert "style" not in deny


def test_untrusted_text_cannot_mention_people_or_forge_links():
    alert = _alert(
        type="Recon:EC2/<!channel>",
        actor=Actor(principal="<@U0BOSS> <https://evil.example|click here>", ip="1.2.3.4"),
    )

    text = _texts(_rendered(card.approval_card(_context(alert=alert), APPROVAL_ID, EXPIRES)))

    assert "<!channel>" not in text
    assert "<@U0BOSS>" not in text
    assert "<https://evil.example" not in text
    assert "&lt;!channel&gt;" in text
    assert "&lt;@U0BOSS&gt; &lt;https://evil.example|click here&gt;" in text


def test_oversized_fields_are_clipped_to_slack_limits():
    alert = _alert(title="A" * 500, type="T&" * 2000)

    blocks = _rendered(card.approval_card(_context(alert=alert), APPROVAL_ID, EXPIRES))

    assert len(blocks[0]["text"]["text"]) == 150
    finding_type = blocks[1]["fields"][1]["text"]
    assert len(finding_type) <= 2000
    assert finding_type.endswith("&amp;…") or finding_type.endswith("T…")


def test_drill_and_dry_run_are_flagged():
    request = _request(alert=_alert(drill=True))
    context = request.context().model_copy(update={"plan": request.plan.model_copy(update={"dry_run": True})})

    text = _texts(_rendered(card.approval_card(context, APPROVAL_ID, EXPIRES)))

    assert "🧪 *Drill*" in text
    assert "🧯 *Dry run*" in text


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [
        (
            card.Resolution(ApprovalStatus.APPROVED, "U0APPROVER", "2026-11-20T09:20:00.000Z"),
            "✅ *Approved* by <@U0APPROVER> <!date^",
        ),
        (
            card.Resolution(ApprovalStatus.DENIED, "U0APPROVER", "2026-11-20T09:20:00.000Z"),
            "⛔ *Denied* by <@U0APPROVER> <!date^",
        ),
        (card.Resolution(ApprovalStatus.EXPIRED, None, "2026-11-20T10:14:33.000Z"), "⌛ *Expired*"),
    ],
)
def test_decided_card_replaces_the_buttons_with_the_decision(resolution, expected):
    blocks = _rendered(card.decided_card(_context(), resolution))

    assert not [b for b in blocks if b["type"] == "actions"]
    assert blocks[-1]["text"]["text"].startswith(expected)
    assert blocks[0]["type"] == "header"


def test_decision_by_a_cli_principal_is_shown_as_code_not_as_a_mention():
    resolution = card.Resolution(
        ApprovalStatus.APPROVED, "arn:aws:sts::123456789012:assumed-role/oncall/alice"
    )

    text = card.resolution_text(resolution)

    assert text == "✅ *Approved* by `arn:aws:sts::123456789012:assumed-role/oncall/alice`"


def test_final_card_shows_the_decision_and_every_action():
    final = card.FinalState(
        status="contained",
        resolution=card.Resolution(ApprovalStatus.APPROVED, "U0APPROVER", "2026-11-20T09:20:00.000Z"),
        actions=(
            card.ActionSummary("isolate_network", "auto", "done", verified=True),
            card.ActionSummary("stop_instance", "approval", "done", verified=False),
        ),
    )

    blocks = _rendered(card.final_card(_context(), final))

    assert not [b for b in blocks if b["type"] == "actions"]
    assert blocks[-2]["text"]["text"].startswith("✅ *Approved* by <@U0APPROVER>")
    assert blocks[-1]["text"]["text"] == (
        "*Outcome: contained*\n✅ isolate_network (auto): done"
        "\n⚠️ stop_instance (approval): done, not verified"
    )


def test_fallback_text_names_the_finding_and_what_needs_approval():
    text = card.card_text(_context())

    assert text == (
        "🟠 HIGH: EC2 instance i-0a1b2c3d4e5f67890 is querying a domain name associated with Bitcoin-related "
        "activity on i-0a1b2c3d4e5f67890. Approval needed: stop_instance."
    )


def test_a_card_under_the_two_person_rule_counts_the_approvals_and_keeps_its_buttons():
    votes = card.Votes(required=2, approvers=("U0APPROVER",))

    blocks = _rendered(card.approval_card(_context(), APPROVAL_ID, EXPIRES, votes))

    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["value"] for e in actions["elements"]] == [APPROVAL_ID, APPROVAL_ID]
    status = [e["text"] for e in blocks[-1]["elements"]]
    assert status[0] == "👥 *1 of 2 approvals*: <@U0APPROVER>; a different approver must also approve"
    assert status[1].startswith("⏳ Expires <!date^")


def test_a_card_needing_one_approver_says_nothing_about_counts():
    text = _texts(_rendered(card.approval_card(_context(), APPROVAL_ID, EXPIRES)))

    assert "approvals" not in text


def test_an_approval_by_two_people_names_both():
    resolution = card.Resolution(
        ApprovalStatus.APPROVED,
        "U0SECOND",
        "2026-11-20T09:20:00.000Z",
        approvers=("U0FIRST", "arn:aws:sts::123456789012:assumed-role/oncall/alice"),
    )

    text = card.resolution_text(resolution)

    assert text.startswith(
        "✅ *Approved* by <@U0FIRST> and `arn:aws:sts::123456789012:assumed-role/oncall/alice` <!date^"
    )
