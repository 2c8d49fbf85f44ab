"""Who may click: the workspace and app ids, Slack user groups and approvers named by the plan.

Every refusal is checked to leave the approval and the incident as they were, and the workflow untouched.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from sandbox.slack import FakeSlack, SlackUser
from tests.handlers.approvals import (
    APPROVER,
    CONTEXT,
    STRANGER,
    approval_event,
    approval_item,
    click_payload,
    ephemeral_texts,
    interact,
    kinds,
    open_incident,
    request_card,
    running_fake_slack,
    slack_request,
    snapshot,
)
from tourniquet.approval import handler

MEMBER = "U0GROUPMEMBER"


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        fake.add_user(SlackUser(MEMBER, "member"))
        yield fake


def new_group(fake: FakeSlack, members: list[str]) -> str:
    """A user group of its own per test: memberships are cached per container by group id."""
    group_id = f"S{secrets.token_hex(5).upper()}"
    fake.add_usergroup(group_id, members)
    return group_id


def request_card_with(plan_approvers: list[str]) -> dict[str, object]:
    open_incident()
    event = approval_event()
    event["plan"]["approvers"] = plan_approvers
    item = approval_item(handler.request_approval(event, CONTEXT)["approval_id"])
    assert item is not None
    return item


# Workspace and app


@pytest.mark.parametrize(
    ("setting", "value"),
    [("SLACK_TEAM_ID", "T0PRODUCTION"), ("SLACK_APP_ID", "A0PRODUCTION")],
    ids=["other-workspace", "other-app"],
)
def test_a_click_from_another_workspace_or_app_is_a_403_and_changes_nothing(
    slack, sfn_calls, monkeypatch, setting, value
):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    monkeypatch.setenv(setting, value)

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 403
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert kinds() == ["approval_requested"]
    assert ephemeral_texts(slack, APPROVER) == []


@pytest.mark.parametrize("field", ["team", "api_app_id"])
def test_a_configured_id_refuses_a_payload_that_does_not_name_one(slack, sfn_calls, monkeypatch, field):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    monkeypatch.setenv("SLACK_TEAM_ID", "T0SANDBOX")
    monkeypatch.setenv("SLACK_APP_ID", "A0TOURNIQ")
    payload = click_payload(approval)
    del payload[field]

    response = interact(slack_request(payload))

    assert response["statusCode"] == 403
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


@pytest.mark.parametrize("unset", ["SLACK_TEAM_ID", "SLACK_APP_ID"])
def test_until_the_workspace_and_app_are_configured_every_click_is_refused(
    slack, sfn_calls, monkeypatch, unset
):
    approval = request_card()
    before = snapshot(approval["approval_id"])
    monkeypatch.delenv(unset)

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 403
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []


def test_a_click_from_the_configured_workspace_and_app_decides(slack, sfn_calls, monkeypatch):
    approval = request_card()
    monkeypatch.setenv("SLACK_TEAM_ID", "T0SANDBOX")
    monkeypatch.setenv("SLACK_APP_ID", "A0TOURNIQ")

    response = interact(slack_request(click_payload(approval)))

    assert response["statusCode"] == 200
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    assert approval_item(approval["approval_id"])["status"] == "approved"


# Approver groups


def test_a_member_of_an_approver_group_may_decide(slack, sfn_calls, monkeypatch):
    monkeypatch.setenv("APPROVER_GROUPS", new_group(slack.fake, [MEMBER]))
    approval = request_card()

    response = interact(slack_request(click_payload(approval, user=MEMBER)))

    assert response["statusCode"] == 200
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]
    decided = approval_item(approval["approval_id"])
    assert (decided["status"], decided["decided_by"]) == ("approved", MEMBER)


def test_someone_outside_the_approver_groups_is_not_authorized(slack, sfn_calls, monkeypatch):
    monkeypatch.setenv("APPROVER_GROUPS", new_group(slack.fake, [MEMBER]))
    approval = request_card()
    before = snapshot(approval["approval_id"])

    response = interact(slack_request(click_payload(approval, user=STRANGER)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert ephemeral_texts(slack, STRANGER) == [
        "You are not authorized to approve or deny Tourniquet actions."
    ]
    assert kinds() == ["approval_requested", "rejected_click"]


def test_group_membership_is_cached_for_a_short_time(slack, monkeypatch):
    group = new_group(slack.fake, [MEMBER, STRANGER])
    monkeypatch.setenv("APPROVER_GROUPS", group)
    first, second = request_card("inc-group-cache-1"), request_card("inc-group-cache-2")
    lookups = len(slack.fake.calls("usergroups.users.list"))

    interact(slack_request(click_payload(first, user=MEMBER)))
    interact(slack_request(click_payload(second, user=STRANGER, action="deny")))

    calls = slack.fake.calls("usergroups.users.list")[lookups:]
    assert [call.args.get("usergroup") for call in calls] == [group]
    assert approval_item(first["approval_id"])["status"] == "approved"
    assert approval_item(second["approval_id"])["status"] == "denied"


def test_a_listed_approver_needs_no_group_lookup(slack, monkeypatch):
    monkeypatch.setenv("APPROVER_GROUPS", new_group(slack.fake, [MEMBER]))
    approval = request_card()
    lookups = len(slack.fake.calls("usergroups.users.list"))

    interact(slack_request(click_payload(approval)))

    assert len(slack.fake.calls("usergroups.users.list")) == lookups
    assert approval_item(approval["approval_id"])["status"] == "approved"


def test_when_group_membership_cannot_be_read_nobody_is_authorized_through_it(slack, sfn_calls, monkeypatch):
    monkeypatch.setenv("APPROVER_GROUPS", new_group(slack.fake, [MEMBER]))
    approval = request_card()
    before = snapshot(approval["approval_id"])
    slack.fake.fail_next("usergroups.users.list", error="missing_scope")

    response = interact(slack_request(click_payload(approval, user=MEMBER)))

    assert response["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert sfn_calls == []
    assert ephemeral_texts(slack, MEMBER) == [
        "Your approver group membership could not be checked: nothing was changed. Try again."
    ]


# Approvers named by the plan


def test_approvers_named_by_the_plan_replace_the_deployment_list(slack, sfn_calls):
    approval = request_card_with([MEMBER])
    before = snapshot(approval["approval_id"])

    refused = interact(slack_request(click_payload(approval, user=APPROVER)))

    assert refused["statusCode"] == 200
    assert snapshot(approval["approval_id"]) == before
    assert ephemeral_texts(slack, APPROVER) == [
        "You are not authorized to approve or deny Tourniquet actions."
    ]

    interact(slack_request(click_payload(approval, user=MEMBER)))

    assert approval_item(approval["approval_id"])["decided_by"] == MEMBER
    assert [operation for operation, _ in sfn_calls] == ["SendTaskSuccess"]


def test_a_plan_may_name_a_user_group(slack, sfn_calls):
    approval = request_card_with([new_group(slack.fake, [STRANGER])])

    interact(slack_request(click_payload(approval, user=STRANGER, action="deny")))

    assert approval_item(approval["approval_id"])["status"] == "denied"
    assert [operation for operation, _ in sfn_calls] == ["SendTaskFailure"]
