"""A storm's folded resources whose steps wait for a person: each has an approval of its own, registered
before its alert asks for the storm's summary; one summary offers all that wait with one set of buttons,
and one click decides each of them once, resuming each one's workflow."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from sandbox.slack import FakeSlack, SlackMessage
from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    STRANGER,
    SlackEnv,
    approval_item,
    approve_cli,
    click_payload,
    ephemeral_texts,
    interact,
    slack_environment,
    slack_request,
)
from tests.handlers.test_storms import ASL, alerts_of, fold, group, with_card
from tests.helpers import LAMBDA_CONTEXT, TABLE
from tourniquet import escalation, store
from tourniquet.approval import decisions, handler, members, records
from tourniquet.approval.model import APPROVE_BATCH_ACTION_ID, DENY_BATCH_ACTION_ID
from tourniquet.errors import Throttled
from tourniquet.incidents import storm
from tourniquet.intake.model import Alert
from tourniquet.notify import handler as notify_handler
from tourniquet.state import IncidentRef

# Another approver of the deployment (slack_environment's APPROVERS).
OTHER_APPROVER = "U0OTHERAPP"


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    env = slack_environment(fake_slack, monkeypatch)
    monkeypatch.setenv("TOURNIQUET_TABLE", TABLE)
    return env


def register(
    incident: IncidentRef,
    alert: Alert,
    execution_id: str,
    target_id: str | None = None,
    *,
    account: str = "123456789012",
    approvers: tuple[str, ...] = (),
) -> str:
    """RegisterFoldedApproval for a folded alert whose plan waits for a person to stop its instance."""
    resource = alert.primary_resource
    assert resource is not None
    event = {
        "folded": "register",
        "execution_id": execution_id,
        "incident": incident.model_dump(),
        "alert": alert.model_dump(mode="json"),
        "plan": {
            "playbook": "storm-ec2",
            "target": {
                "type": "AwsEc2Instance",
                "id": target_id or resource.id,
                "account": account,
                "region": "eu-west-1",
            },
            "automatic": ["tag_instance"],
            "approval": ["stop_instance"],
            "approval_required": True,
            "approval_timeout_seconds": 3600,
            "approvers": list(approvers),
        },
        "diagnostics": [],
        "contained": [],
    }
    return str(handler.request_approval(event, CONTEXT)["approval_id"])


def wait(incident: IncidentRef, approval_id: str, token: str) -> dict[str, Any]:
    """AwaitFoldedDecision, as the workflow invokes it with its task token."""
    event = {"folded": "wait", "task_token": token, "approval_id": approval_id, "incident_id": incident.id}
    return handler.request_approval(event, CONTEXT)


def offer(incident: IncidentRef, execution_id: str, approval_id: str) -> dict[str, Any]:
    """OfferFoldedApproval: the folded alert asks for the storm's summary."""
    event = {
        "kind": "folded",
        "incident": incident.model_dump(),
        "execution_id": execution_id,
        "approval_id": approval_id,
    }
    return notify_handler.notify(event, LAMBDA_CONTEXT)


def asked(offered: dict[str, Any]) -> tuple[bool, bool]:
    """Whether OfferFoldedApproval's summary was posted, and whether its alert asks again."""
    return offered["posted"], offered["awaiting_summary"]


def summaries(slack: SlackEnv, ts: str) -> list[SlackMessage]:
    return [m for m in slack.fake.messages(slack.channel) if m.thread_ts == ts]


@pytest.fixture
def waiting(slack: SlackEnv) -> tuple[IncidentRef, list[IncidentRef], list[str], str]:
    """A storm of three alerts: the card of the one that opened it, and two folded resources that wait."""
    first, *rest = alerts_of(group(3))
    opened = fold(first, "exec-0")
    ts = with_card(slack, opened.id)
    joined = [fold(alert, f"exec-{n}") for n, alert in enumerate(rest, 1)]
    approvals = [register(j, a, f"exec-{n}") for n, (j, a) in enumerate(zip(joined, rest, strict=True), 1)]
    return opened, joined, approvals, ts


def offered(slack: SlackEnv, waiting: Any) -> tuple[SlackMessage, dict[str, Any]]:
    """The last folded alert asks for the summary: the summary posted, and its batch approval."""
    _, joined, approvals, ts = waiting
    assert asked(offer(joined[-1], "exec-2", approvals[-1])) == (True, False)
    [summary] = summaries(slack, ts)
    batch = approval_item(summary.buttons()[0][1]["value"])
    assert batch is not None
    return summary, batch


def click(batch: dict[str, Any], action: str = APPROVE_BATCH_ACTION_ID, **kwargs: Any) -> dict[str, Any]:
    return interact(slack_request(click_payload(batch, action=action, **kwargs)))


def statuses(approvals: list[str]) -> list[str]:
    return [str((approval_item(a) or {}).get("status")) for a in approvals]


def test_a_folded_resource_registers_an_approval_of_its_own_without_a_token_and_once(slack):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-0")
    joined = fold(second, "exec-1")

    approval_id = register(joined, second, "exec-1")
    retried = register(joined, second, "exec-1")

    item = approval_item(approval_id)
    assert retried == approval_id
    assert item is not None
    assert (item["status"], item["folded"], item["incident_id"]) == ("pending", True, opened.id)
    assert "task_token" not in item
    [resource] = [r for r in store.resource_items(opened.id) if r.get("approval_id")]
    assert (resource["resource_id"], resource["approval_id"]) == ("i-0cafe000000000001", approval_id)
    [event] = [e for e in store.timeline(opened.id) if e["kind"] == "folded_approval_requested"]
    assert (event["target"], event["actions"]) == ("i-0cafe000000000001", ["stop_instance"])


def test_one_summary_offers_every_waiting_resource_with_one_set_of_buttons_and_no_token(slack, waiting):
    opened, joined, approvals, ts = waiting
    wait(joined[0], approvals[0], "token-of-the-first")

    summary, batch = offered(slack, waiting)

    assert [(e["action_id"], e["value"]) for _, e in summary.buttons()] == [
        (APPROVE_BATCH_ACTION_ID, batch["approval_id"]),
        (DENY_BATCH_ACTION_ID, batch["approval_id"]),
    ]
    assert summary.buttons()[0][1]["text"]["text"] == "Approve stop_instance on 2 resources"
    shown = json.dumps(summary.blocks, ensure_ascii=False)
    assert "token-of-the-first" not in shown
    assert "2 steps on 2 resources" in shown
    assert all(f"i-0cafe{n:012x} (AwsEc2Instance, 123456789012 eu-west-1)" in shown for n in (1, 2))
    assert "3 resources, 3 alerts in all" in shown
    assert (batch["kind"], batch["members"], batch["slack_ts"]) == ("batch", approvals, summary.ts)
    assert all((approval_item(a) or {}).get("offered_in") == batch["approval_id"] for a in approvals)
    # The other alert asks after it: offered already, it waits for the decision and posts nothing.
    assert asked(offer(joined[0], "exec-1", approvals[0])) == (True, False)
    assert len(summaries(slack, ts)) == 1
    assert opened.id == batch["incident_id"]


def test_a_resource_that_waits_after_the_summary_goes_on_the_next_one(slack, waiting, monkeypatch):
    _, _, _, ts = waiting
    offered(slack, waiting)
    [late] = alerts_of(group(1, first=3))
    joined = fold(late, "exec-3")
    late_id = register(joined, late, "exec-3")
    # A copy of another resource's alert folds in after it: the last alert is that one.
    fold(alerts_of(group(1, first=1))[0], "exec-copy")

    # Not the last alert, and the last summary is fresh: it asks again after the next settle.
    assert asked(offer(joined, "exec-3", late_id)) == (True, True)
    later = store.now() + timedelta(seconds=storm.SETTLE_SECONDS + 1)
    monkeypatch.setattr(store, "now", lambda: later)
    assert asked(offer(joined, "exec-3", late_id)) == (True, False)

    first, second = summaries(slack, ts)
    assert first.buttons()[0][1]["value"] != second.buttons()[0][1]["value"]
    next_batch = approval_item(second.buttons()[0][1]["value"])
    assert next_batch is not None
    # The next summary offers the late one only: the others are on the first.
    assert next_batch["members"] == [late_id]


def test_the_summary_offers_ten_resources_counts_the_rest_and_never_renders_alert_text(slack):
    first, *rest = alerts_of(group(13))
    opened = fold(first, "exec-0")
    ts = with_card(slack, opened.id)
    joined = [fold(alert, f"exec-{n}") for n, alert in enumerate(rest, 1)]
    approvals = [
        register(j, a, f"exec-{n}", target_id="<!channel> `x` *bold*" if n == 1 else None)
        for n, (j, a) in enumerate(zip(joined, rest, strict=True), 1)
    ]

    offer(joined[-1], "exec-12", approvals[-1])

    [summary] = summaries(slack, ts)
    shown = json.dumps(summary.blocks, ensure_ascii=False)
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt; 'x' *bold*" in shown
    assert "10 steps on 10 resources" in shown
    assert "…and 2 more, offered by the next summary" in shown
    assert summary.buttons()[0][1]["text"]["text"] == "Approve stop_instance on 10 resources"
    batch = approval_item(summary.buttons()[0][1]["value"])
    assert batch is not None and len(batch["members"]) == 10


def test_one_click_decides_each_folded_resource_once_and_resumes_each_workflow(slack, waiting, sfn_calls):
    opened, joined, approvals, _ = waiting
    for incident, approval_id, token in zip(joined, approvals, ("token-1", "token-2"), strict=True):
        assert wait(incident, approval_id, token) == {}
    summary, batch = offered(slack, waiting)

    response = click(batch)
    again = click(batch)

    assert (response["statusCode"], again["statusCode"]) == (200, 200)
    assert sorted((op, p["taskToken"]) for op, p in sfn_calls) == [
        ("SendTaskSuccess", "token-1"),
        ("SendTaskSuccess", "token-2"),
    ]
    assert all(json.loads(p["output"])["by"] == APPROVER for _, p in sfn_calls)
    assert statuses(approvals) == ["approved", "approved"]
    assert all("task_token" not in (approval_item(a) or {}) for a in approvals)
    decisions = [e for e in store.timeline(opened.id) if e["kind"] == "decision"]
    assert sorted((e["target"], e["decision"], e["batch_id"]) for e in decisions) == [
        (f"i-0cafe{n:012x}", "approve", batch["approval_id"]) for n in (1, 2)
    ]
    assert Counter(e["kind"] for e in store.timeline(opened.id))["folded_decision"] == 1
    decided = slack.fake.message(summary.channel, summary.ts)
    assert decided is not None and decided.buttons() == []
    shown = json.dumps(decided.blocks, ensure_ascii=False)
    assert "✅ *Approved* by" in shown and "stop_instance on 2 folded resources" in shown
    [told] = ephemeral_texts(slack, APPROVER)
    assert told.startswith(f"This was already approved by <@{APPROVER}>")


def test_deny_decides_each_folded_resource_and_fails_each_wait_with_approval_denied(
    slack, waiting, sfn_calls
):
    _, joined, approvals, _ = waiting
    for incident, approval_id, token in zip(joined, approvals, ("token-1", "token-2"), strict=True):
        wait(incident, approval_id, token)
    _, batch = offered(slack, waiting)

    click(batch, action=DENY_BATCH_ACTION_ID)

    assert sorted((op, p["taskToken"], p["error"]) for op, p in sfn_calls) == [
        ("SendTaskFailure", "token-1", "ApprovalDenied"),
        ("SendTaskFailure", "token-2", "ApprovalDenied"),
    ]
    assert statuses(approvals) == ["denied", "denied"]


def test_a_decision_taken_before_the_workflow_waits_is_delivered_when_it_waits(slack, waiting, sfn_calls):
    _, joined, approvals, _ = waiting
    _, batch = offered(slack, waiting)

    click(batch)
    assert sfn_calls == []
    assert statuses(approvals) == ["approved", "approved"]

    assert wait(joined[0], approvals[0], "token-1") == {}
    [(operation, params)] = sfn_calls
    assert (operation, params["taskToken"]) == ("SendTaskSuccess", "token-1")


def test_a_stranger_cannot_decide_and_the_attempt_is_recorded(slack, waiting, sfn_calls):
    opened, _, approvals, _ = waiting
    _, batch = offered(slack, waiting)

    click(batch, user=STRANGER)

    assert statuses(approvals) == ["pending", "pending"]
    assert (approval_item(batch["approval_id"]) or {})["status"] == "pending"
    assert sfn_calls == []
    [rejected] = [e for e in store.timeline(opened.id) if e["kind"] == "rejected_click"]
    assert rejected["reason"] == "not_authorized"


def test_the_buttons_decide_only_on_the_summary_they_were_posted_on(slack, waiting, sfn_calls):
    opened, _, approvals, ts = waiting
    _, batch = offered(slack, waiting)

    on_the_card = click({**batch, "slack_ts": ts})
    # The card's own Approve button never carries a batch: a forged value decides nothing.
    as_the_cards = click(batch, action="approve")
    # Nor can a folded resource's own approval be clicked: no message carries it.
    one_member = click(batch, value=approvals[0])
    as_a_card = click(batch, action="approve", value=approvals[0])

    assert {r["statusCode"] for r in (on_the_card, as_the_cards, one_member, as_a_card)} == {200}
    assert statuses(approvals) == ["pending", "pending"]
    assert (approval_item(batch["approval_id"]) or {})["status"] == "pending"
    assert sfn_calls == []
    reasons = [e["reason"] for e in store.timeline(opened.id) if e["kind"] == "rejected_click"]
    assert reasons == ["wrong_message", "card_not_posted"]
    assert ephemeral_texts(slack, APPROVER)[-1].endswith(
        f"`tourniquet approve {opened.id} --resource i-0cafe000000000001`."
    )


def test_under_the_two_person_rule_the_batch_waits_for_a_second_approver(slack, monkeypatch, sfn_calls):
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "stop_instance")
    first, *rest = alerts_of(group(2))
    opened = fold(first, "exec-10")
    ts = with_card(slack, opened.id)
    joined = [fold(rest[0], "exec-11")]
    approval_id = register(joined[0], rest[0], "exec-11")
    wait(joined[0], approval_id, "token-11")
    offer(joined[0], "exec-11", approval_id)
    [summary] = summaries(slack, ts)
    batch = approval_item(summary.buttons()[0][1]["value"])
    assert batch is not None and batch["required_approvals"] == 2

    click(batch)
    assert statuses([approval_id]) == ["pending"]
    assert sfn_calls == []
    assert len((slack.fake.message(summary.channel, summary.ts) or summary).buttons()) == 2
    click(batch, user=OTHER_APPROVER)

    assert statuses([approval_id]) == ["approved"]
    assert sorted((approval_item(approval_id) or {})["approvals"]) == [APPROVER, OTHER_APPROVER]
    assert [op for op, _ in sfn_calls] == ["SendTaskSuccess"]


def test_an_expired_resource_is_never_decided_and_its_expiry_is_recorded_and_paged_once(slack, waiting):
    opened, _, approvals, _ = waiting
    _, batch = offered(slack, waiting)
    past = store.iso(store.now() - timedelta(seconds=1))
    store.table().update_item(
        Key={"pk": f"APPROVAL#{approvals[0]}", "sk": "APPROVAL"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": past},
    )

    click(batch)
    for approval_id in approvals[:1]:
        handler.request_approval(
            {"folded": "expire", "approval_id": approval_id, "incident_id": opened.id}, CONTEXT
        )

    assert statuses(approvals) == ["expired", "approved"]
    expired = [e for e in store.timeline(opened.id) if e["kind"] == "folded_approval_expired"]
    assert [(e["target"], e["actions"]) for e in expired] == [("i-0cafe000000000001", ["stop_instance"])]
    [page] = slack.pages()
    assert (page["event"], page["resource"]) == ("folded_approval_expired", "i-0cafe000000000001")
    # The incident's next expiry is on the timeline only.
    [alert] = alerts_of(group(1, first=5))
    late = register(fold(alert, "exec-5"), alert, "exec-5")
    handler.request_approval({"folded": "expire", "approval_id": late, "incident_id": opened.id}, CONTEXT)
    assert statuses([late]) == ["expired"]
    assert slack.pages() == []


def test_a_batch_decided_before_its_members_were_finishes_them_on_the_next_click(slack, waiting, sfn_calls):
    _, joined, approvals, _ = waiting
    wait(joined[0], approvals[0], "token-1")
    _, batch = offered(slack, waiting)
    # The click's run ended after the batch was claimed and before its members were decided.
    current = records.get(batch["approval_id"])
    assert current is not None
    records.add_approval(current, APPROVER, store.iso())

    click(batch, user=OTHER_APPROVER)

    assert statuses(approvals) == ["approved", "approved"]
    assert [(op, p["taskToken"]) for op, p in sfn_calls] == [("SendTaskSuccess", "token-1")]
    assert {(approval_item(a) or {})["decided_by"] for a in approvals} == {APPROVER}


def test_a_resource_decided_through_the_cli_is_not_decided_again_by_the_buttons(slack, waiting, sfn_calls):
    opened, _, approvals, _ = waiting
    _, batch = offered(slack, waiting)

    cli = approve_cli(opened.id, "--deny", "--reason", "owner says no", "--resource", "i-0cafe000000000001")
    click(batch)

    assert cli.exit_code == 0, cli.output
    assert f"Denied {opened.id} i-0cafe000000000001 as" in cli.output
    assert statuses(approvals) == ["denied", "approved"]
    decisions = [e for e in store.timeline(opened.id) if e["kind"] == "decision"]
    assert sorted((e["target"], e["decision"]) for e in decisions) == [
        ("i-0cafe000000000001", "deny"),
        ("i-0cafe000000000002", "approve"),
    ]


def test_the_cli_decides_only_the_resources_it_names(slack, waiting, sfn_calls):
    opened, _, approvals, _ = waiting

    unnamed = approve_cli(opened.id, "--approve", "--reason", "r")
    unknown = approve_cli(
        opened.id, "--approve", "--reason", "r", "--resource", "i-0cafe000000000001", "--resource", "i-nope"
    )

    assert (unnamed.exit_code, unknown.exit_code) == (2, 2)
    assert "2 folded resources wait for a decision of their own" in unnamed.output
    assert "i-0cafe000000000001 (stop_instance)" in unnamed.output
    assert "--resource" in unnamed.output
    assert "no folded resource i-nope" in unknown.output
    assert statuses(approvals) == ["pending", "pending"]
    assert sfn_calls == []
    assert members.waiting(opened.id)[0].approval_id == approvals[0]


def test_before_the_card_exists_a_waiting_resource_keeps_asking(slack):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-0")
    joined = fold(second, "exec-1")
    approval_id = register(joined, second, "exec-1")

    assert asked(offer(joined, "exec-1", approval_id)) == (False, True)
    ts = with_card(slack, opened.id)
    assert asked(offer(joined, "exec-1", approval_id)) == (True, False)
    [summary] = summaries(slack, ts)
    assert len(summary.buttons()) == 2


def test_the_workflow_registers_offers_then_waits_and_expires_through_the_watched_state():
    states = json.loads(ASL.read_text())["States"]
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in states["AwaitFoldedDecision"]["Catch"]}

    assert states["RegisterFoldedApproval"]["Next"] == "SettleFoldedApproval"
    assert (states["SettleFoldedApproval"]["Seconds"], states["SettleFoldedApproval"]["Next"]) == (
        storm.SETTLE_SECONDS,
        "OfferFoldedApproval",
    )
    assert states["OfferFoldedApproval"]["Parameters"]["approval_id.$"] == "$.folded_approval.approval_id"
    [again] = states["FoldedApprovalOffered"]["Choices"]
    assert (again["Variable"], again["Next"]) == ("$.notified.awaiting_summary", "SettleFoldedApproval")
    assert states["FoldedApprovalOffered"]["Default"] == "AwaitFoldedDecision"
    assert states["AwaitFoldedDecision"]["Resource"].endswith(".waitForTaskToken")
    assert catches[("ApprovalDenied",)] == "FoldedDenied"
    assert catches[("ApprovalExpired", "States.HeartbeatTimeout", "States.Timeout")] == "Expired"
    assert [c["Next"] for c in states["FoldedApprovalDecision"]["Choices"]] == ["RunFoldedApprovedActions"]
    assert states["FoldedApprovalDecision"]["Default"] == "FoldedDenied"
    assert states["RunFoldedApprovedActions"]["Parameters"]["mode"] == "approval"
    assert states["Expired"]["Next"] == "ExpiredFolded"
    assert states["ExpiredFolded"]["Choices"][0]["Next"] == "ExpireFoldedApproval"
    assert {states[name]["Next"] for name in ("FoldedDenied", "ExpireFoldedApproval")} == {"Folded"}


# --- what the review of the folded approvals found --------------------------------------------------------


def test_a_summarys_click_decides_only_the_resources_its_message_names(slack):
    first, *rest = alerts_of(group(13))
    opened = fold(first, "exec-0")
    ts = with_card(slack, opened.id)
    joined = [fold(alert, f"exec-{n}") for n, alert in enumerate(rest, 1)]
    # Ids come from alerts: ten long ones would not fit one section whole.
    approvals = [
        register(j, a, f"exec-{n}", target_id=f"i-{n:02d}-" + "x" * 400)
        for n, (j, a) in enumerate(zip(joined, rest, strict=True), 1)
    ]

    offer(joined[-1], "exec-12", approvals[-1])
    [summary] = summaries(slack, ts)
    click(approval_item(summary.buttons()[0][1]["value"]) or {})

    decided = [a for a, status in zip(approvals, statuses(approvals), strict=True) if status == "approved"]
    assert len(decided) == storm.LISTED
    shown = json.dumps(summary.blocks, ensure_ascii=False)
    for approval_id in decided:
        target = (records.get(approval_id) or pytest.fail("unknown approval")).card.plan.target.id or ""
        assert target[:5] in shown
    assert summary.buttons()[0][1]["text"]["text"] == "Approve stop_instance on 10 resources"
    assert "10 steps on 10 resources" in shown
    # The other two are offered by the next summary.
    assert all(members.awaiting_summary(a) for a in approvals if a not in decided)


def test_a_waiting_resource_is_on_one_live_summary_and_none_repeats_every_settle(slack, waiting, monkeypatch):
    _, _, approvals, ts = waiting
    offered(slack, waiting)
    [late] = alerts_of(group(1, first=3))
    joined = fold(late, "exec-3")
    # Its approvers differ from the others' (the playbook changed meanwhile).
    late_id = register(joined, late, "exec-3", approvers=(OTHER_APPROVER,))
    later = store.now() + timedelta(seconds=storm.SETTLE_SECONDS + 1)
    monkeypatch.setattr(store, "now", lambda: later)

    assert offer(joined, "exec-3", late_id)["awaiting_summary"] is False

    _, second = summaries(slack, ts)
    batch = approval_item(second.buttons()[0][1]["value"]) or {}
    assert batch["members"] == [late_id]
    assert (approval_item(late_id) or {})["offered_in"] == batch["approval_id"]
    assert {(approval_item(a) or {})["offered_in"] for a in approvals} != {batch["approval_id"]}
    # Denying it tells the channels of the one resource it decided.
    click(batch, action=DENY_BATCH_ACTION_ID, user=OTHER_APPROVER)
    assert statuses([late_id, *approvals]) == ["denied", "pending", "pending"]


def test_a_denial_announces_only_the_resources_it_decided(slack, waiting, monkeypatch):
    opened, _, _, _ = waiting
    _, batch = offered(slack, waiting)
    approve_cli(opened.id, "--deny", "--reason", "r", "--resource", "i-0cafe000000000001")
    told: list[str] = []
    monkeypatch.setattr(decisions, "deliver", lambda update, *_: told.append(update.summary) or {})

    click(batch, action=DENY_BATCH_ACTION_ID)

    assert told == [f"Denied by {APPROVER}: stop_instance on 1 folded resource."]


def test_a_folded_wait_ends_at_its_approvals_deadline(slack, waiting, monkeypatch, sfn_calls):
    _, joined, approvals, ts = waiting
    deadline = store.epoch(str((approval_item(approvals[-1]) or {})["deadline"]))
    later = store.now() + timedelta(seconds=100)
    monkeypatch.setattr(store, "now", lambda: later)

    result = offer(joined[-1], "exec-2", approvals[-1])

    assert 0 < result["wait_seconds"] <= deadline - int(later.timestamp()) + 1
    # A click on a batch decided before a member's deadline passed decides nothing after it.
    [summary] = summaries(slack, ts)
    batch = records.get(summary.buttons()[0][1]["value"])
    assert batch is not None
    records.add_approval(batch, APPROVER, store.iso(store.now() - timedelta(seconds=10)))
    past = store.iso(store.now() - timedelta(seconds=1))
    store.table().update_item(
        Key={"pk": f"APPROVAL#{approvals[0]}", "sk": "APPROVAL"},
        UpdateExpression="SET deadline = :past",
        ExpressionAttributeValues={":past": past},
    )
    click(approval_item(batch.approval_id) or {}, user=OTHER_APPROVER)
    assert statuses(approvals) == ["pending", "approved"]


def test_a_resource_that_is_never_offered_stops_asking_after_a_bound(slack):
    first, second = alerts_of(group(2))
    fold(first, "exec-0")
    joined = fold(second, "exec-1")
    approval_id = register(joined, second, "exec-1")
    assert offer(joined, "exec-1", approval_id)["awaiting_summary"] is True

    later = store.now() + timedelta(seconds=members.OFFER_WINDOW_SECONDS + 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "now", lambda: later)
        assert offer(joined, "exec-1", approval_id)["awaiting_summary"] is False


def test_a_throttled_expiry_page_is_sent_on_the_steps_retry(slack, waiting, monkeypatch):
    opened, _, approvals, _ = waiting
    publish = escalation.publish
    calls: list[str] = []

    def throttled_once(subject: str, message: dict[str, Any]) -> None:
        calls.append(subject)
        if len(calls) == 1:
            raise Throttled("SNS throttled")
        publish(subject, message)

    monkeypatch.setattr(escalation, "publish", throttled_once)
    expire = {"folded": "expire", "approval_id": approvals[0], "incident_id": opened.id}
    with pytest.raises(Throttled):
        handler.request_approval(expire, CONTEXT)
    handler.request_approval(expire, CONTEXT)

    [page] = slack.pages()
    assert (page["event"], page["resource"]) == ("folded_approval_expired", "i-0cafe000000000001")
    expired = [e for e in store.timeline(opened.id) if e["kind"] == "folded_approval_expired"]
    assert [e["approval_id"] for e in expired] == [approvals[0]]


def test_a_folded_approval_whose_workflow_failed_before_waiting_cannot_be_approved(slack, waiting, sfn_calls):
    opened, joined, approvals, _ = waiting
    _, batch = offered(slack, waiting)
    # OfferFoldedApproval (say) failed for the first alert: its Catch abandons the approval first.
    abandon = {
        "folded": "abandon",
        "execution_id": "exec-1",
        "incident": joined[0].model_dump(),
    }
    handler.request_approval(abandon, CONTEXT)
    handler.request_approval(abandon, CONTEXT)

    click(batch)

    assert statuses(approvals) == ["expired", "approved"]
    decided = [e["target"] for e in store.timeline(opened.id) if e["kind"] == "decision"]
    assert decided == ["i-0cafe000000000002"]
    [abandoned] = [e for e in store.timeline(opened.id) if e["kind"] == "folded_approval_abandoned"]
    assert abandoned["target"] == "i-0cafe000000000001"


def test_the_workflow_abandons_a_folded_approval_whenever_it_fails_before_its_decision():
    states = json.loads(ASL.read_text())["States"]

    for name in ("RegisterFoldedApproval", "OfferFoldedApproval", "AwaitFoldedDecision"):
        [last] = [c for c in states[name]["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        assert (last["Next"], last["ResultPath"]) == ("AbandonFoldedApproval", "$.error")
    abandon = states["AbandonFoldedApproval"]
    assert (abandon["Parameters"]["folded"], abandon["ResultPath"], abandon["Next"]) == (
        "abandon",
        None,
        "RecordFailure",
    )
    assert [c["Next"] for c in abandon["Catch"]] == ["RecordFailure"]
    assert states["AwaitFoldedDecision"]["TimeoutSecondsPath"] == "$.notified.wait_seconds"


def test_an_ambiguous_resource_is_refused_and_account_region_id_names_one(slack, sfn_calls):
    first, *rest = alerts_of(group(3))
    opened = fold(first, "exec-0")
    joined = [fold(alert, f"exec-{n}") for n, alert in enumerate(rest, 1)]
    accounts = ("111111111111", "222222222222")
    approvals = [
        register(j, a, f"exec-{n}", target_id="i-0same", account=account)
        for n, (j, a, account) in enumerate(zip(joined, rest, accounts, strict=True), 1)
    ]

    ambiguous = approve_cli(opened.id, "--deny", "--reason", "r", "--resource", "i-0same")
    named = approve_cli(opened.id, "--deny", "--reason", "r", "--resource", "222222222222/eu-west-1/i-0same")

    assert ambiguous.exit_code == 2
    assert "i-0same names 2 folded resources" in ambiguous.output
    assert "222222222222/eu-west-1/i-0same" in ambiguous.output
    assert named.exit_code == 0, named.output
    assert statuses(approvals) == ["pending", "denied"]


def test_an_approved_folded_resources_result_is_told_in_the_storms_thread(slack, waiting, monkeypatch):
    opened, joined, _, ts = waiting
    _, batch = offered(slack, waiting)
    click(batch)
    # RunFoldedApprovedActions on each: one stop was done but a fresh read could not prove it.
    for n, verified in ((1, False), (2, True)):
        target = {"type": "AwsEc2Instance", "id": f"i-0cafe{n:012x}"}
        store.append_event(
            opened.id,
            "action",
            action="stop_instance",
            target=target,
            mode="approval",
            status="done",
            verified=verified,
        )
    later = store.now() + timedelta(seconds=storm.SETTLE_SECONDS + 1)
    monkeypatch.setattr(store, "now", lambda: later)

    told = [
        notify_handler.notify(
            {"kind": "folded", "incident": j.model_dump(), "execution_id": f"exec-{n}", "ran": True},
            LAMBDA_CONTEXT,
        )
        for n, j in enumerate(joined, 1)
    ]

    assert [t["posted"] for t in told] == [True, True]
    *_, outcome = summaries(slack, ts)
    assert len(summaries(slack, ts)) == 2
    assert outcome.buttons() == []
    shown = json.dumps(outcome.blocks or outcome.text, ensure_ascii=False)
    assert "`i-0cafe000000000001`: stop_instance (not verified)" in shown
    assert "`i-0cafe000000000002`: stop_instance" in shown


def test_the_workflow_tells_the_thread_what_an_approved_folded_resource_ran():
    states = json.loads(ASL.read_text())["States"]

    assert states["RunFoldedApprovedActions"]["Next"] == "SettleFoldedOutcome"
    settle = states["SettleFoldedOutcome"]
    assert (settle["Seconds"], settle["Next"]) == (storm.SETTLE_SECONDS, "NotifyFoldedOutcome")
    notify = states["NotifyFoldedOutcome"]
    assert (notify["Parameters"]["kind"], notify["Parameters"]["ran"], notify["Next"]) == (
        "folded",
        True,
        "Folded",
    )
    assert [c["Next"] for c in notify["Catch"]] == ["RecordFailure"]
