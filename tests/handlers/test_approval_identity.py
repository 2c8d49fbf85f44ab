"""The two-person rule counts people, not identity strings.

Through the CLI the identity is the caller's STS ARN, and a role's session name is whatever its assumer
chose: every session of one IAM role counts as one approver (the role), an IAM user as itself. A Slack user
and an AWS principal cannot be shown to be different people, so the approvals of a two-person action must
all come through the same kind of identity; a mismatch is refused and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from sandbox.slack import FakeSlack, SlackUser
from tests.handlers.approvals import (
    APPROVER,
    INCIDENT_ID,
    SlackEnv,
    approval_item,
    approve_cli,
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
from tests.helpers import TABLE
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.approval import decisions
from tourniquet.approval.model import Decision

SECOND = "U0SECONDAPPROVER"
ALICE = "arn:aws:sts::111122223333:assumed-role/IncidentResponder/alice"
BOB = "arn:aws:sts::111122223333:assumed-role/IncidentResponder/bob"
RESPONDER = "arn:aws:iam::111122223333:role/IncidentResponder"
AUDITOR_SESSION = "arn:aws:sts::111122223333:assumed-role/SecurityAuditor/carol@example.com"
AUDITOR = "arn:aws:iam::111122223333:role/SecurityAuditor"
USER = "arn:aws:iam::111122223333:user/ops/dave"


@pytest.mark.parametrize(
    ("caller", "counted"),
    [
        (ALICE, RESPONDER),
        (BOB, RESPONDER),
        (AUDITOR_SESSION, AUDITOR),
        (
            "arn:aws-us-gov:sts::111122223333:assumed-role/Responder/i-0123456789abcdef0",
            "arn:aws-us-gov:iam::111122223333:role/Responder",
        ),
        (USER, USER),
        ("arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:root"),
        ("arn:aws:sts::111122223333:federated-user/erin", "arn:aws:sts::111122223333:federated-user/*"),
        ("arn:aws:sts::111122223333:federated-user/frank", "arn:aws:sts::111122223333:federated-user/*"),
        (APPROVER, APPROVER),
    ],
    ids=[
        "role-session",
        "same-role-other-session",
        "other-role",
        "other-partition",
        "iam-user",
        "root",
        "federated-user",
        "other-federated-user",
        "slack-user",
    ],
)
def test_the_approver_counted_is_the_principal_behind_the_caller(caller, counted):
    assert decisions.approver_identity(caller) == counted


# Through the CLI, with the caller's identity stubbed.


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        fake.add_user(SlackUser(SECOND, "second"))
        yield fake


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    env = slack_environment(fake_slack, monkeypatch)
    monkeypatch.setenv("APPROVERS", f"{APPROVER},{SECOND}")
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "stop_instance")
    monkeypatch.setenv("TOURNIQUET_TABLE", TABLE)
    return env


def approve_as(caller: str, reason: str = "checked with the owner") -> Any:
    """``tourniquet approve --approve`` with STS answering that the caller is ``caller``."""
    with Stubber(tourniquet_aws.client("sts")) as stub:
        stub.add_response(
            "get_caller_identity",
            {"UserId": "AROAEXAMPLE:session", "Account": "111122223333", "Arn": caller},
        )
        return approve_cli(INCIDENT_ID, "--approve", "--reason", reason)


def test_two_sessions_of_one_role_count_as_one_approver(slack, sfn_calls):
    approval = request_card()

    first = approve_as(ALICE)
    after_first = snapshot(approval["approval_id"])
    second = approve_as(BOB)

    assert first.exit_code == 0, first.output
    assert f"Approval counted as {RESPONDER} (session {ALICE}) (1 of 2)" in first.output
    assert second.exit_code == 2
    assert f"you have already approved this as {RESPONDER}" in second.output
    assert "nothing was changed" in second.output
    assert snapshot(approval["approval_id"]) == after_first
    assert approval_item(approval["approval_id"])["approvals"] == [RESPONDER]
    assert sfn_calls == []


def test_the_full_session_arn_stays_in_the_audit_trail(slack, sfn_calls):
    request_card()

    approve_as(ALICE)

    counted = store.timeline(INCIDENT_ID)[-1]
    assert (counted["kind"], counted["actor"], counted["session"]) == ("partial_approval", RESPONDER, ALICE)


@pytest.mark.parametrize(
    ("first", "second"), [(ALICE, AUDITOR_SESSION), (USER, BOB)], ids=["two-roles", "user-role"]
)
def test_two_different_principals_complete_a_two_person_approval(slack, sfn_calls, first, second):
    approval = request_card()

    approve_as(first)
    result = approve_as(second)

    assert result.exit_code == 0, result.output
    ((operation, params),) = sfn_calls
    assert operation == "SendTaskSuccess"
    expected = sorted({decisions.approver_identity(first), decisions.approver_identity(second)})
    assert sorted(json.loads(params["output"])["approvers"]) == expected
    item = approval_item(approval["approval_id"])
    assert (item["status"], sorted(item["approvals"])) == ("approved", expected)
    decision = store.timeline(INCIDENT_ID)[-1]
    assert (decision["kind"], decision["session"]) == ("decision", second)


def test_a_single_approval_through_the_cli_is_recorded_as_the_role(slack, sfn_calls, monkeypatch):
    monkeypatch.setenv("TWO_PERSON_ACTIONS", "")
    approval = request_card()

    result = approve_as(ALICE)

    assert result.exit_code == 0, result.output
    assert f"Approved {INCIDENT_ID} as {RESPONDER} (session {ALICE}): stop_instance." in result.output
    item = approval_item(approval["approval_id"])
    assert (item["status"], item["decided_by"]) == ("approved", RESPONDER)
    assert store.timeline(INCIDENT_ID)[-1]["session"] == ALICE


# A Slack user and an AWS principal cannot be shown to be two people.


def test_the_cli_cannot_complete_an_approval_a_slack_user_started(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))
    after_slack = snapshot(approval["approval_id"])

    result = approve_as(ALICE)

    assert result.exit_code == 2
    assert "already approved in Slack" in result.output
    assert "must also come from Slack" in result.output
    assert "nothing was changed" in result.output
    assert snapshot(approval["approval_id"]) == after_slack
    assert approval_item(approval["approval_id"])["approvals"] == [APPROVER]
    assert sfn_calls == []


def test_a_slack_user_cannot_complete_an_approval_the_cli_started(slack, sfn_calls):
    approval = request_card()
    approve_as(USER)
    after_cli = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval, user=SECOND)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == after_cli
    assert approval_item(approval["approval_id"])["approvals"] == [USER]
    assert sfn_calls == []
    assert ephemeral_texts(slack, SECOND) == [
        "This approval was already approved through the CLI (an AWS identity). A Slack user and an AWS"
        " principal cannot be shown to be different people, so the second approval must also come through"
        f" the CLI: `tourniquet approve {INCIDENT_ID}`. Nothing was changed."
    ]
    assert kinds() == ["approval_requested", "partial_approval", "rejected_click"]
    rejected = store.timeline(INCIDENT_ID)[-1]
    assert (rejected["actor"], rejected["reason"]) == (SECOND, "mixed_identities")


def test_mixing_is_refused_however_the_decision_is_taken(slack, sfn_calls):
    approval = request_card()
    approval_id = approval["approval_id"]
    decisions.decide(approval_id, Decision.APPROVE, APPROVER)

    outcome = decisions.decide(approval_id, Decision.APPROVE, ALICE)

    assert outcome.result is decisions.Result.MIXED_IDENTITIES
    assert approval_item(approval_id)["approvals"] == [APPROVER]
    assert sfn_calls == []


def test_one_deny_decides_whoever_approved_before(slack, sfn_calls):
    approval = request_card()
    interact(slack_request(click_payload(approval)))

    outcome = decisions.decide(approval["approval_id"], Decision.DENY, ALICE)

    assert outcome.result is decisions.Result.DECIDED
    assert [operation for operation, _ in sfn_calls] == ["SendTaskFailure"]
    item = approval_item(approval["approval_id"])
    assert (item["status"], item["decided_by"]) == ("denied", RESPONDER)
