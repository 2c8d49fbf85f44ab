"""Signed Slack clicks and webhook posts reach the deployed functions through the local HTTP API."""

from __future__ import annotations

import base64
import json
import time

import pytest
from slack_sdk import WebClient

from sandbox.clicker import form_body, post
from sandbox.core import APPROVER, OUTSIDER
from sandbox.deploy import Deployment, FunctionInfo, HttpRoute
from sandbox.interactions import (
    INTERACTIONS_HANDLER,
    INTERACTIONS_PATH,
    HttpRequest,
    LocalHttpApi,
    api_response,
    http_api_event_v1,
    http_api_event_v2,
)

APPROVAL = "ApprovalMachine9E8D7C6B"


def start_approval(sandbox, incident_id, *, quiet=False):
    arn = sandbox.start_execution(
        {"incident_id": incident_id, "quiet": quiet},
        state_machine_arn=sandbox.deployment.state_machine_arn(APPROVAL),
    )
    return arn, sandbox.wait_for_card(arn if quiet else incident_id)


def test_a_signed_click_reaches_the_handler_and_completes_the_task(sandbox):
    arn, card = start_approval(sandbox, "inc-click")

    status, body = sandbox.click(card, "approve")

    reply = json.loads(body)
    assert status == 200
    assert reply == {
        "action": "approve",
        "user": "U0SANDBOXAPPROVER",
        "route": "POST /slack/interactions",
        "method": "POST",
        "content_type": "application/x-www-form-urlencoded",
        "base64": True,
        "message_ts": card.ts,
    }
    execution = sandbox.wait_for_execution(arn, timeout=10)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["approval"] == {"decision": "approve", "by": "U0SANDBOXAPPROVER"}


def test_a_click_with_a_forged_signature_or_a_stale_timestamp_is_refused(sandbox):
    arn, card = start_approval(sandbox, "inc-forged")

    forged = sandbox.click(card, "approve", OUTSIDER.id, signing_secret="not-the-secret")
    stale = sandbox.click(card, "approve", OUTSIDER.id, timestamp=str(int(time.time()) - 600))
    garbage = sandbox.click(card, "approve", OUTSIDER.id, timestamp="soon")

    assert [forged[0], stale[0], garbage[0]] == [401, 401, 401]
    assert sandbox.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert sandbox.click(card, "deny", APPROVER.id)[0] == 200
    assert sandbox.wait_for_execution(arn, timeout=10)["status"] == "SUCCEEDED"


def test_a_card_is_found_from_its_execution_through_the_approval_its_buttons_carry(sandbox):
    arn, card = start_approval(sandbox, "inc-quiet", quiet=True)

    assert not card.mentions("inc-quiet")
    assert sandbox.incident_id_for(arn) == "inc-quiet"
    assert sandbox.click(card, "deny")[0] == 200
    assert sandbox.wait_for_execution(arn, timeout=10)["status"] == "SUCCEEDED"


def test_the_payload_is_a_block_actions_interaction_for_the_pressed_button(sandbox):
    arn, card = start_approval(sandbox, "inc-payload")

    payload = sandbox.clicker.payload(card, "deny", APPROVER.id)

    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": APPROVER.id,
        "username": "alice",
        "name": "alice",
        "team_id": "T0SANDBOX",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": card.ts,
        "channel_id": card.channel,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": card.channel, "name": "security-incidents"}
    assert payload["message"]["blocks"] == card.blocks
    [action] = payload["actions"]
    assert action["action_id"] == "deny"
    assert action["value"] == card.buttons()[1][1]["value"]
    assert action["block_id"] == card.blocks[1]["block_id"]
    with pytest.raises(LookupError, match="escalate"):
        sandbox.clicker.payload(card, "escalate", APPROVER.id)
    assert sandbox.click(card, "deny", APPROVER.id)[0] == 200
    assert sandbox.wait_for_execution(arn, timeout=10)["status"] == "SUCCEEDED"


def test_the_deployed_approvers_are_known_to_the_fake_slack(sandbox):
    approver = sandbox.slack.user("U0SANDBOXAPPROVER")

    assert sandbox.approver.id == "U0SANDBOXAPPROVER"
    assert approver is not None
    assert approver.name == "alice"
    web = WebClient(token=sandbox.slack_credentials["bot_token"], base_url=sandbox.slack.api_url)
    assert web.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [APPROVER.id]


def test_a_route_with_path_parameters_gets_an_http_api_event(sandbox):
    result = post(
        sandbox.api.url("/webhook/grafana?org=1"),
        json.dumps({"alerts": []}).encode(),
        {"Content-Type": "application/json", "X-Custom": "yes"},
    )

    assert result.status == 200
    event = result.json()["input"]
    assert event["routeKey"] == "POST /webhook/{source}"
    assert event["rawPath"] == "/webhook/grafana"
    assert event["pathParameters"] == {"source": "grafana"}
    assert event["queryStringParameters"] == {"org": "1"}
    assert event["headers"]["x-custom"] == "yes"
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"alerts": []}
    exchange = sandbox.api.exchanges()[-1]
    assert (exchange.route_key, exchange.status) == ("POST /webhook/{source}", 200)
    assert exchange.function_name == sandbox.deployment.function_name("tests.sandbox.handlers.echo")


def test_a_path_without_a_route_is_not_found(sandbox):
    assert post(sandbox.api.url("/nowhere"), form_body({}), {}).status == 404


def request(body=b"payload=%7B%7D", content_type="application/x-www-form-urlencoded"):
    return HttpRequest(
        method="POST",
        path="/slack/interactions",
        query="a=1&a=2",
        headers=[("Content-Type", content_type), ("X-Slack-Signature", "v0=abc"), ("Cookie", "k=v; x=y")],
        body=body,
        source_ip="127.0.0.1",
    )


def test_a_form_post_becomes_a_payload_2_event_with_a_base64_body():
    event = http_api_event_v2(
        request(),
        HttpRoute("POST /slack/interactions", "fn"),
        {},
        account_id="123456789012",
        host="h.example",
    )

    assert event["version"] == "2.0"
    assert event["headers"] == {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-signature": "v0=abc",
    }
    assert event["cookies"] == ["k=v", "x=y"]
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"payload=%7B%7D"
    assert event["requestContext"]["http"]["method"] == "POST"


def test_a_payload_1_route_gets_a_proxy_event():
    event = http_api_event_v1(
        request(b'{"a":1}', "application/json"),
        HttpRoute("POST /slack/interactions", "fn", payload_version="1.0"),
        {},
        account_id="123456789012",
        host="h.example",
    )

    assert event["httpMethod"] == "POST"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["headers"]["X-Slack-Signature"] == "v0=abc"
    assert (event["body"], event["isBase64Encoded"]) == ('{"a":1}', False)


@pytest.mark.parametrize(
    ("payload", "version", "expected"),
    [
        ({"statusCode": 401, "headers": {"a": "b"}, "body": "no"}, "2.0", (401, [("a", "b")], b"no")),
        ({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}, "2.0", (200, [], b"hi")),
        ({"ok": True}, "2.0", (200, [("Content-Type", "application/json")], b'{"ok": true}')),
        (
            {"ok": True},
            "1.0",
            (502, [("Content-Type", "application/json")], b'{"message":"Internal server error"}'),
        ),
    ],
)
def test_function_results_become_http_responses_as_api_gateway_sends_them(payload, version, expected):
    assert api_response(payload, version) == expected


def test_a_template_without_an_http_api_still_serves_the_interactions_route():
    deployment = Deployment(region="eu-west-1", account_id="123456789012", stack_name="T", endpoint_url="x")
    deployment.functions["Fn"] = FunctionInfo("Fn", "T-Fn", "arn:fn", INTERACTIONS_HANDLER, {})

    api = LocalHttpApi(deployment, lambda_client=None)

    route, parameters = api.route("POST", INTERACTIONS_PATH)
    assert (route.function_name, parameters) == ("T-Fn", {})
