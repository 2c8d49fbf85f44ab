"""Signed but hostile Slack interactions: whatever the payload holds, the callback answers with a 2xx or a
4xx, and the only click that ever decides is an approver's on the approval's own card."""

from __future__ import annotations

import copy
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from tests.handlers.approvals import (
    APPROVER,
    SIGNING_SECRET,
    approval_item,
    click_payload,
    interact,
    request_card,
    slack_request,
)

pytestmark = pytest.mark.long

HOSTILE: list[Any] = [
    None,
    "",
    " ",
    0,
    -1,
    10**400,
    1.5,
    True,
    [],
    {},
    ["approve"],
    {"id": "U0APPROVER"},
    "\u0000",
    "\u202e",
    "U0APPROVER",
    "U0STRANGER",
    "T0SANDBOX",
    "A0TOURNIQ",
    "C" + "0" * 40,
    "1795331381.000001",
    "9" * 400 + ".1",
    "../../etc",
    "x" * 2001,
    "approve",
    "deny",
    "release",
    "block_actions",
    "view_submission",
    "<@U0APPROVER>",
    "🔥",
]
PLACES = [
    ("type",),
    ("user",),
    ("user", "id"),
    ("team",),
    ("team", "id"),
    ("api_app_id",),
    ("container",),
    ("container", "channel_id"),
    ("container", "message_ts"),
    ("container", "type"),
    ("channel", "id"),
    ("actions",),
    ("actions", 0),
    ("actions", 0, "action_id"),
    ("actions", 0, "value"),
    ("actions", 1),
]


def signed(body: str) -> dict[str, Any]:
    """The HTTP API event of ``body`` exactly as given, signed as Slack signs it."""
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": str(
            SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
        ),
    }
    return slack_request(None, headers=headers) | {"body": body}


def mutated(payload: dict[str, Any], changes: list[tuple[int, int]]) -> dict[str, Any]:
    """``payload`` with each change made; a change places a copy, so no later change reaches the list or
    nests a value in itself."""
    for place, value in changes:
        *parents, last = PLACES[place]
        target: Any = payload
        try:
            for step in parents:
                target = target[step]
            if isinstance(target, list) and isinstance(last, int) and last >= len(target):
                target.append(copy.deepcopy(HOSTILE[value]))
            else:
                target[last] = copy.deepcopy(HOSTILE[value])
        except (KeyError, IndexError, TypeError):
            continue
    return payload


def test_a_change_never_nests_a_hostile_value_in_itself_or_changes_the_list():
    listed = json.dumps(HOSTILE)
    as_dict = HOSTILE.index({"id": "U0APPROVER"})
    user, user_id = PLACES.index(("user",)), PLACES.index(("user", "id"))

    payload = mutated({"user": {"id": "U0APPROVER"}}, [(user, as_dict), (user_id, as_dict)])

    assert json.loads(json.dumps(payload)) == {"user": {"id": {"id": "U0APPROVER"}}}
    assert json.dumps(HOSTILE) == listed


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(
        st.tuples(st.integers(0, len(PLACES) - 1), st.integers(0, len(HOSTILE) - 1)), min_size=1, max_size=3
    ),
    form=st.sampled_from(["plain", "twice", "suffix", "bad-escape", "raw-json", "unquoted"]),
)
def test_a_signed_hostile_click_gets_a_2xx_or_4xx_and_decides_nothing_it_should_not(slack, changes, form):
    approval = request_card()
    payload = mutated(click_payload(approval), changes)
    text = json.dumps(payload)
    body = {
        "plain": "payload=" + quote(text),
        "twice": "payload=" + quote(text) + "&payload=" + quote(text),
        "suffix": "payload=" + quote(text) + "&other=%ZZ%ff",
        "bad-escape": "payload=" + quote(text).replace("%7B", "%zz", 1),
        "raw-json": text,
        "unquoted": "payload=" + text,
    }[form]
    event = signed(body)

    response = interact(event)

    assert response["statusCode"] in (200, 400, 401, 403), response
    item = approval_item(approval["approval_id"])
    assert item is not None
    if item["status"] != "pending":
        # Only the approver's approve or deny on this approval's own card decides it.
        container, (action, *_) = payload["container"], payload["actions"]
        assert payload["user"]["id"] == APPROVER
        assert (container["channel_id"], container["message_ts"]) == (item["slack_channel"], item["slack_ts"])
        assert action["value"] == approval["approval_id"]
        assert action["action_id"] in ("approve", "deny")
