"""The two-person rule: actions listed in TWO_PERSON_ACTIONS need two different approvers, counted with
conditional writes, before the workflow hears anything; one deny decides."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from sandbox.slack import FakeSlack, SlackUser
from tests.handlers.approvals import (
    APPROVER,
    INCIDENT_ID,
    TOKEN,
    SlackEnv,
    approval_item,
    click_payload,
    ephemeral_texts,
    interact,
    kinds,
    request_card,
    running_fake_slack,
    slack_environment,
    slack_request,
    snapshot,
)
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import decisions
from tourniquet.approval.model import Decision

SECOND = "U0SECONDAPPROVER"


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        fake.add_user(SlackUser(SECOND, "second"))
        yield fake


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    env = slack_environment(fake_slack, monkeypatch)
    monkeypatch.setenv("APPROVERS", f"{APPROVER},{SECOND}")
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "stop_instance,revoke_sessions")
    return env


def card_json(env: SlackEnv, approval: dict[str, Any]) -> tuple[str, int]:
    """The card's blocks as text, and how many buttons it still has."""
    message = env.fake.message(approval["slack_channel"], approval["slack_ts"])
    assert message is not None
    return json.dumps(message.blocks, ensure_ascii=False), len(message.buttons())


def thread(env: SlackEnv, approval: dict[str, Any]) -> list[str]:
    return [m.text for m in env.fake.messages(env.channel) if m.thread_ts == approval["slack_ts"]]


def test_an_action_under_the_rule_asks_for_two_approvals_on_the_card(slack):
    approval = request_card()

    assert approval["required_approvals"] == 2
    blocks, buttons = card_json(slack, approval)
    assert "👥 *0 of 2 approvals*: 2 different approvers must approve" in blocks
    assert buttons == 2


def test_actions_outside_the_rule_need_one_approver(slack, sfn_calls, monkeypatch):
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "revoke_sessions")
    approval = request_card()

    interact(slack_request(click_payload(approval)))

    assert approval["required_approvals"] == 1
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    assert "approvals" not in card_json(slack, approval)[0]


def test_the_first_approval_is_counted_and_the_workflow_keeps_waiting(slack, sfn_calls):
    approval = request_card()

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert sfn_calls == []
    item = approval_item(approval["approval_id"])
    assert (item["status"], item["approvals"]) == ("pending", [APPROVER])
    assert "decided_by" not in item
    blocks, buttons = card_json(slack, approval)
    assert f"👥 *1 of 2 approvals*: <@{APPROVER}>; a different approver must also approve" in blocks
    assert buttons == 2
    assert thread(slack, approval) == [
        f"👍 Approved by <@{APPROVER}> (1 of 2 approvals): stop_instance waits for a different approver."
    ]
    assert kinds() == ["approval_requested", "partial_approval"]
    counted = store.timeline(INCIDENT_ID)[-1]
    assert (counted["actor"], counted["approvals"], counted["required"]) == (APPROVER, 1, 2)


def test_the_same_approver_clicking_again_changes_nothing(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))
    after_first = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == after_first
    assert sfn_calls == []
    assert ephemeral_texts(slack, APPROVER) == [
        "You have already approved this (1 of 2 approvals); a different approver must approve."
        " Nothing was changed."
    ]
    assert kinds() == ["approval_requested", "partial_approval"]
    assert len(thread(slack, approval)) == 1


def test_a_second_different_approver_completes_it(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))

    response = interact(slack_request(click_payload(approval, user=SECOND)))

    assert response["statusCode"] == 200
    ((operation, params),) = sfn_calls
    assert (operation, params["taskToken"]) == ("SendTaskSuccess", TOKEN)
    output = json.loads(params["output"])
    assert (output["decision"], output["by"]) == ("approve", SECOND)
    assert sorted(output["approvers"]) == sorted([APPROVER, SECOND])
    item = approval_item(approval["approval_id"])
    assert item["status"] == "approved"
    assert sorted(item["approvals"]) == sorted([APPROVER, SECOND])
    blocks, buttons = card_json(slack, approval)
    assert buttons == 0
    assert "✅ *Approved* by <@U0APPROVER> and <@U0SECONDAPPROVER>" in blocks
    assert thread(slack, approval)[-1] == (
        "✅ Approved by <@U0APPROVER> and <@U0SECONDAPPROVER>: running stop_instance."
    )
    assert kinds() == ["approval_requested", "partial_approval", "decision"]


def test_one_deny_decides_even_after_an_approval(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))

    interact(slack_request(click_payload(approval, user=SECOND, action="deny")))

    assert [operation for operation, _ in sfn_calls] == ["SendTaskFailure"]
    item = approval_item(approval["approval_id"])
    assert (item["status"], item["decided_by"]) == ("denied", SECOND)
    assert kinds() == ["approval_requested", "partial_approval", "decision"]


def test_a_completing_approval_that_cannot_be_delivered_gives_back_that_vote(slack):
    approval = request_card()
    interact(slack_request(click_payload(approval)))

    with Stubber(tourniquet_aws.client("stepfunctions")) as stub:
        stub.add_client_error(
            "send_task_success", service_error_code="ServiceUnavailable", http_status_code=503
        )
        interact(slack_request(click_payload(approval, user=SECOND)))

    item = approval_item(approval["approval_id"])
    assert (item["status"], item["approvals"]) == ("pending", [APPROVER])
    assert "decided_by" not in item
    assert ephemeral_texts(slack, SECOND) == [
        "The decision could not be delivered; the approval is still pending. Try again."
    ]


# Concurrency: the conditional writes, not the order of arrival, decide.


def concurrently(*calls: Callable[[], decisions.Outcome]) -> list[decisions.Outcome]:
    """Run ``calls`` at the same moment on their own threads (each with its own boto3 clients)."""
    start = threading.Barrier(len(calls))
    results: list[decisions.Outcome | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int, call: Callable[[], decisions.Outcome]) -> None:
        start.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # reported by the assertion below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join(timeout=30)
    assert all(isinstance(result, decisions.Outcome) for result in results), results
    return results  # type: ignore[return-value]


@pytest.fixture
def deliveries(atomic_items: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Decisions handed to Step Functions from any thread."""
    delivered: list[str] = []
    lock = threading.Lock()
    original = decisions._deliver

    def counting(approval: Any, decision: Decision, reason: str | None) -> None:
        with lock:
            delivered.append(decision.value)
        original(approval, decision, reason)

    monkeypatch.setattr(decisions, "_deliver", counting)
    return delivered


@pytest.mark.parametrize("round_", range(5))
def test_two_approvers_clicking_at_once_complete_it_exactly_once(slack, deliveries, round_):
    approval = request_card(f"inc-concurrent-{round_}")
    approval_id = approval["approval_id"]

    outcomes = concurrently(
        lambda: decisions.decide(approval_id, Decision.APPROVE, APPROVER),
        lambda: decisions.decide(approval_id, Decision.APPROVE, SECOND),
    )

    assert sorted(outcome.result.value for outcome in outcomes) == ["decided", "partial"]
    assert deliveries == ["approve"]
    item = approval_item(approval_id)
    assert item["status"] == "approved"
    assert sorted(item["approvals"]) == sorted([APPROVER, SECOND])


@pytest.mark.parametrize("round_", range(3))
def test_one_approver_double_clicking_at_once_is_counted_once(slack, deliveries, round_):
    approval = request_card(f"inc-double-{round_}")
    approval_id = approval["approval_id"]

    outcomes = concurrently(
        lambda: decisions.decide(approval_id, Decision.APPROVE, APPROVER),
        lambda: decisions.decide(approval_id, Decision.APPROVE, APPROVER),
    )

    assert sorted(outcome.result.value for outcome in outcomes) == ["already_approved", "partial"]
    assert deliveries == []
    item = approval_item(approval_id)
    assert (item["status"], item["approvals"]) == ("pending", [APPROVER])


@pytest.mark.parametrize("round_", range(3))
def test_an_approval_and_a_deny_at_once_decide_exactly_once(slack, deliveries, round_):
    approval = request_card(f"inc-race-{round_}")
    approval_id = approval["approval_id"]
    decisions.decide(approval_id, Decision.APPROVE, APPROVER)

    outcomes = concurrently(
        lambda: decisions.decide(approval_id, Decision.APPROVE, SECOND),
        lambda: decisions.decide(approval_id, Decision.DENY, APPROVER),
    )

    results = sorted(outcome.result.value for outcome in outcomes)
    assert results == ["already_decided", "decided"]
    assert len(deliveries) == 1
    assert approval_item(approval_id)["status"] == {"approve": "approved", "deny": "denied"}[deliveries[0]]
