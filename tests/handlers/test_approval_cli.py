"""`tourniquet approve`: deciding without Slack, through the same single-use path, as the caller's AWS
identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    INCIDENT_ID,
    TOKEN,
    approval_event,
    approval_item,
    approve_cli,
    kinds,
    open_incident,
    snapshot,
)
from tests.helpers import TABLE, moto_client
from tourniquet import store
from tourniquet.approval import decisions, handler
from tourniquet.approval.model import Decision

# moto's identity for the test credentials.
CALLER = "arn:aws:sts::123456789012:user/moto"


@pytest.fixture
def slack_down(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Slack at all: cards cannot be posted, only the escalation topic hears of requests."""
    monkeypatch.delenv("SLACK_SECRET_ARN", raising=False)
    monkeypatch.setenv("ESCALATION_TOPIC_ARN", moto_client("sns").create_topic(Name="pages")["TopicArn"])
    monkeypatch.setenv("TOURNIQUET_TABLE", TABLE)


def request() -> dict[str, Any]:
    open_incident()
    item = approval_item(handler.request_approval(approval_event(), CONTEXT)["approval_id"])
    assert item is not None
    return item


@pytest.fixture
def pending(slack_down: None) -> dict[str, Any]:
    return request()


def test_approve_decides_as_the_callers_aws_identity(pending, sfn_calls):
    result = approve_cli(INCIDENT_ID, "--approve", "--reason", "Slack is down; verified with the owner")

    assert result.exit_code == 0, result.output
    assert f"Approved {INCIDENT_ID} as {CALLER}: stop_instance." in result.output
    ((operation, params),) = sfn_calls
    assert (operation, params["taskToken"]) == ("SendTaskSuccess", TOKEN)
    output = json.loads(params["output"])
    assert (output["by"], output["reason"]) == (CALLER, "Slack is down; verified with the owner")
    item = approval_item(pending["approval_id"])
    assert (item["status"], item["decided_by"]) == ("approved", CALLER)
    decision = store.timeline(INCIDENT_ID)[-1]
    assert (decision["kind"], decision["actor"], decision["reason"]) == (
        "decision",
        CALLER,
        "Slack is down; verified with the owner",
    )


def test_deny_sends_approval_denied(pending, sfn_calls):
    result = approve_cli(INCIDENT_ID, "--deny", "--reason", "false positive")

    assert result.exit_code == 0, result.output
    assert [operation for operation, _ in sfn_calls] == ["SendTaskFailure"]
    assert sfn_calls[0][1]["error"] == "ApprovalDenied"
    assert approval_item(pending["approval_id"])["status"] == "denied"


def test_the_table_can_be_named_on_the_command_line(pending, sfn_calls, monkeypatch):
    monkeypatch.delenv("TOURNIQUET_TABLE")

    result = approve_cli(INCIDENT_ID, "--deny", "--reason", "r", "--table", TABLE)

    assert result.exit_code == 0, result.output
    assert approval_item(pending["approval_id"])["status"] == "denied"


def test_a_second_decision_is_refused_with_exit_code_2_and_changes_nothing(pending, sfn_calls):
    approve_cli(INCIDENT_ID, "--approve", "--reason", "first")
    after_first = snapshot(pending["approval_id"])

    result = approve_cli(INCIDENT_ID, "--deny", "--reason", "second")

    assert result.exit_code == 2
    assert f"already approved by {CALLER}: nothing was changed" in result.output
    assert snapshot(pending["approval_id"]) == after_first
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]


def test_under_the_two_person_rule_the_cli_counts_as_one_approver(slack_down, monkeypatch, sfn_calls):
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "stop_instance")
    approval_id = request()["approval_id"]

    first = approve_cli(INCIDENT_ID, "--approve", "--reason", "contained, stop it")
    again = approve_cli(INCIDENT_ID, "--approve", "--reason", "still")

    assert first.exit_code == 0, first.output
    assert "(1 of 2); a different IAM principal (another role or user" in first.output
    assert again.exit_code == 2
    assert "you have already approved this" in again.output
    assert sfn_calls == []
    # A Slack user cannot be shown to be someone else than the AWS principal: the second approval must
    # also come from an AWS principal (see test_approval_identity).
    assert (
        decisions.decide(approval_id, Decision.APPROVE, APPROVER).result is decisions.Result.MIXED_IDENTITIES
    )
    assert approval_item(approval_id)["approvals"] == [CALLER]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([INCIDENT_ID, "--reason", "r"], "exactly one of --approve and --deny"),
        ([INCIDENT_ID, "--approve", "--deny", "--reason", "r"], "exactly one of --approve and --deny"),
        ([INCIDENT_ID, "--approve", "--reason", "  "], "--reason is required"),
    ],
    ids=["neither", "both", "blank-reason"],
)
def test_usage_errors_change_nothing(pending, sfn_calls, args, problem):
    before = snapshot(pending["approval_id"])

    result = approve_cli(*args)

    assert result.exit_code == 2
    assert problem in result.output
    assert snapshot(pending["approval_id"]) == before
    assert sfn_calls == []


def test_without_a_table_the_command_says_how_to_name_one(aws, monkeypatch):
    monkeypatch.delenv("TOURNIQUET_TABLE", raising=False)

    result = approve_cli(INCIDENT_ID, "--approve", "--reason", "r")

    assert result.exit_code == 2
    assert "--table or TOURNIQUET_TABLE" in result.output


def test_an_unknown_incident_or_one_without_an_approval_is_refused(slack_down, sfn_calls):
    open_incident()

    unknown = approve_cli("inc-doesnotexist", "--approve", "--reason", "r")
    no_approval = approve_cli(INCIDENT_ID, "--approve", "--reason", "r")

    assert (unknown.exit_code, no_approval.exit_code) == (2, 2)
    assert "no incident inc-doesnotexist" in unknown.output
    assert f"incident {INCIDENT_ID} has no approval request" in no_approval.output
    assert kinds() == []
    assert sfn_calls == []
