"""The weekly report: off by default; when scheduled, EventBridge Scheduler invokes a function that may only
read incidents through the by-type index, their timelines and the Slack secret, write which channels took a
period's report, and reach the configured channels that carry reports (Teams, e-mail)."""

from __future__ import annotations

import importlib
import json

import pytest

from stacks.config import ConfigError, load_config
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
from tests.infra.configs import WEEKLY_REPORT_SCHEDULE
from tourniquet.reports.handler import weekly
from tourniquet.store import INCIDENTS_BY_TYPE_INDEX


def test_no_weekly_report_is_deployed_unless_scheduled(template: Template):
    assert resources(template, "AWS::Scheduler::Schedule") == {}
    assert not [
        fn
        for fn in resources(template, "AWS::Lambda::Function").values()
        if fn["Properties"]["Handler"] == WEEKLY_REPORT.handler
    ]


def test_the_schedule_invokes_the_report_function_only_and_retries_it(variant_template: Template):
    function_id, _ = function_by_handler(variant_template, WEEKLY_REPORT.handler)
    _, schedule = one(variant_template, "AWS::Scheduler::Schedule", "WeeklyReport")

    props = schedule["Properties"]
    assert props["ScheduleExpression"] == WEEKLY_REPORT_SCHEDULE
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    # The scheduled time is the same on each retry: the report's period, and its channels' sent marks.
    assert json.loads(props["Target"]["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    role = props["Target"]["RoleArn"]["Fn::GetAtt"][0]
    [statement] = role_statements(variant_template, role)
    assert (statement["Action"], statement["Resource"]) == (
        "lambda:InvokeFunction",
        {"Fn::GetAtt": [function_id, "Arn"]},
    )
    [trust] = variant_template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_report_function_reads_incidents_through_the_index_and_writes_only_its_sent_marks(
    variant_template: Template,
):
    _, function = function_by_handler(variant_template, WEEKLY_REPORT.handler)
    statements = role_statements(variant_template, role_of(function))
    table = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    granted = {(action, json.dumps(s.get("Condition"))) for s in table for action in as_list(s["Action"])}
    incidents = json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["INCIDENT#*"]}})
    marks = json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["REPORT#*"]}})
    assert granted == {
        ("dynamodb:Scan", "null"),
        ("dynamodb:Query", incidents),
        ("dynamodb:Query", marks),
        ("dynamodb:PutItem", marks),
    }
    [scan] = [s for s in table if s["Action"] == "dynamodb:Scan"]
    assert scan["Resource"]["Fn::Join"][1][-1] == f"/index/{INCIDENTS_BY_TYPE_INDEX}"
    assert function["Properties"]["Environment"]["Variables"]["SLACK_CHANNEL"] == "C0123ABCDEF"


@pytest.mark.parametrize("schedule", ["cron(0 8 * * MON)", "rate(7 days)", "every monday", ""])
def test_a_schedule_that_is_not_a_scheduler_cron_expression_stops_the_synth(schedule: str):
    context = {
        "tourniquet": {
            "slack_channel": "#security-incidents",
            "approvers": ["U0SANDBOXAPPROVER"],
            "weekly_report_schedule": schedule,
        }
    }
    with pytest.raises(ConfigError, match=r"^config key 'weekly_report_schedule': must be an EventBridge"):
        load_config(context)


def test_a_scheduler_cron_expression_is_taken():
    context = {
        "tourniquet": {
            "slack_channel": "#security-incidents",
            "approvers": ["U0SANDBOXAPPROVER"],
            "weekly_report_schedule": "cron(30 7 ? * MON-FRI *)",
        }
    }
    assert load_config(context).weekly_report_schedule == "cron(30 7 ? * MON-FRI *)"


def test_the_report_function_handler_string_names_the_handler():
    module, _, name = WEEKLY_REPORT.handler.rpartition(".")

    assert getattr(importlib.import_module(module), name) is weekly


def test_the_report_function_reaches_teams_and_email_when_configured_and_never_pagerduty(
    variant_template: Template,
):
    _, function = function_by_handler(variant_template, WEEKLY_REPORT.handler)
    statements = role_statements(variant_template, role_of(function))
    variables = function["Properties"]["Environment"]["Variables"]
    teams_id, _ = one(variant_template, "AWS::SecretsManager::Secret", "TeamsSecret")
    topic_id, _ = one(variant_template, "AWS::SNS::Topic", "EmailTopic")

    # The routes of the channels that carry reports (Slack's, when one is configured), as the notifying
    # functions get them.
    assert set(json.loads(variables["CHANNEL_ROUTES"])) == {"slack", "teams", "email"}
    assert variables["TEAMS_SECRET_ARN"] == {"Ref": teams_id}
    assert variables["EMAIL_TOPIC_ARN"] == {"Ref": topic_id}
    assert "PAGERDUTY_SECRET_ARN" not in variables
    read = [r for s in granting(statements, "secretsmanager:GetSecretValue") for r in as_list(s["Resource"])]
    assert {"Ref": teams_id} in read
    [publish] = granting(statements, "sns:Publish")
    assert publish["Resource"] == {"Ref": topic_id}
    pagerduty_id, _ = one(variant_template, "AWS::SecretsManager::Secret", "PagerDutySecret")
    assert {"Ref": pagerduty_id} not in read


def test_without_a_channel_that_carries_reports_the_report_function_gets_none(minimal_template: Template):
    # The minimal config deploys PagerDuty, which carries no report.
    one(minimal_template, "AWS::SecretsManager::Secret", "PagerDutySecret")
    _, function = function_by_handler(minimal_template, WEEKLY_REPORT.handler)
    statements = role_statements(minimal_template, role_of(function))
    variables = function["Properties"]["Environment"]["Variables"]

    assert not {"CHANNEL_ROUTES", "PAGERDUTY_SECRET_ARN", "TEAMS_SECRET_ARN", "EMAIL_TOPIC_ARN"} & set(
        variables
    )
    assert granting(statements, "sns:Publish") == []
    slack_secret_id, _ = one(minimal_template, "AWS::SecretsManager::Secret", "SlackSecret")
    [read] = granting(statements, "secretsmanager:GetSecretValue")
    assert as_list(read["Resource"]) == [{"Ref": slack_secret_id}]
