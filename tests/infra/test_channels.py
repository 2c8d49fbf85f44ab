"""The channels in the template: deployed only when configured, each secret readable and the e-mail topic
publishable only by the functions that notify (and, for Teams and e-mail, the weekly report), and each told
its routes, Slack's among them when one is configured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.channels import NOTIFIERS
from stacks.config import CONTEXT_KEY, ChannelsConfig, ConfigError, load_config, project_context
from stacks.weekly_report import WEEKLY_REPORT
from tests.infra.cfn import (
    Template,
    as_list,
    function_by_handler,
    granting,
    one,
    resources,
    role_of,
    role_statements,
)
from tests.infra.configs import CHANNELS

HANDLERS = {
    "RequestApproval": "tourniquet.approval.handler.request_approval",
    "SlackInteraction": "tourniquet.approval.callback.slack_interaction",
    "Notify": "tourniquet.notify.handler.notify",
}


def _granted(template: Template, action: str, resource: Any) -> set[str]:
    return {
        role
        for role in resources(template, "AWS::IAM::Role")
        for statement in granting(role_statements(template, role), action)
        if resource in as_list(statement["Resource"])
    }


def _notifier_roles(template: Template) -> set[str]:
    return {role_of(function_by_handler(template, HANDLERS[name])[1]) for name in NOTIFIERS}


def test_no_channel_is_deployed_unless_configured(template: Template) -> None:
    described = [
        r["Properties"].get("Description", "")
        for r in resources(template, "AWS::SecretsManager::Secret").values()
    ]
    assert not [d for d in described if "PagerDuty" in d or "Teams" in d]
    assert not [t for t in resources(template, "AWS::SNS::Topic") if "Email" in t]
    for handler in HANDLERS.values():
        environment = function_by_handler(template, handler)[1]["Properties"]["Environment"]["Variables"]
        assert "CHANNEL_ROUTES" not in environment


def test_each_channel_secret_and_the_email_topic_serve_only_the_notifying_functions(
    variant_template: Template,
) -> None:
    notifiers = _notifier_roles(variant_template)
    # The weekly report goes to the channels that carry reports: Teams and e-mail, never PagerDuty.
    reporter = role_of(function_by_handler(variant_template, WEEKLY_REPORT.handler)[1])
    for prefix, readers in (("PagerDutySecret", notifiers), ("TeamsSecret", notifiers | {reporter})):
        secret_id, _ = one(variant_template, "AWS::SecretsManager::Secret", prefix)
        assert _granted(variant_template, "secretsmanager:GetSecretValue", {"Ref": secret_id}) == readers
    topic_id, topic = one(variant_template, "AWS::SNS::Topic", "EmailTopic")
    assert _granted(variant_template, "sns:Publish", {"Ref": topic_id}) == notifiers | {reporter}
    assert "KmsMasterKeyId" in topic["Properties"]
    [subscription] = [
        s["Properties"]
        for s in resources(variant_template, "AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic_id}
    ]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "secops@example.com")


def test_the_notifying_functions_are_told_the_routes_and_where_each_channel_is(
    variant_template: Template,
) -> None:
    for name in NOTIFIERS:
        environment = function_by_handler(variant_template, HANDLERS[name])[1]["Properties"]["Environment"]
        variables = environment["Variables"]
        routes = json.loads(variables["CHANNEL_ROUTES"])
        assert routes["pagerduty"] == {"severities": ["CRITICAL", "HIGH"], "playbooks": ["*"]}
        assert routes["teams"]["playbooks"] == ["guardduty-*"]
        assert routes["slack"]["severities"] == ["CRITICAL", "HIGH", "MEDIUM"]
        assert set(routes) == set(CHANNELS)
        assert {"PAGERDUTY_SECRET_ARN", "TEAMS_SECRET_ARN", "EMAIL_TOPIC_ARN"} <= set(variables)


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"pagerduty": {"severities": ["SEVERE"]}}, "channels.pagerduty.severities"),
        ({"teams": {"playbooks": ["ec2 isolate"]}}, "not playbook names or globs"),
        ({"email": {"addresses": ["not-an-address"]}}, "not e-mail addresses"),
        ({"pagerduty": {"severities": []}}, "channels.pagerduty.severities"),
        ({"slack": {"severities": ["SEVERE"]}}, "channels.slack.severities"),
        ({"sms": {}}, "channels.sms"),
    ],
)
def test_an_invalid_channel_config_fails_naming_the_key(channels: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config({CONTEXT_KEY: {**project_context()[CONTEXT_KEY], "channels": channels}})


def test_a_channel_left_empty_hears_of_every_severity_and_playbook() -> None:
    assert ChannelsConfig.model_validate({"teams": {}}).routes() == {
        "teams": {"severities": ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"], "playbooks": ["*"]}
    }
