"""The weekly report (optional, ``weekly_report_schedule``): EventBridge Scheduler invokes a function that
reads the week's incidents through the by-type index and sends the summary, side by side, to the Slack
channel and the configured channels that carry reports (Teams, e-mail); a retry sends it only to those that
did not take it."""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from stacks.channels import Channels
from stacks.credentials import Credentials, grant_secret_value
from stacks.functions import Functions, FunctionSpec
from stacks.storage import AuditStorage
from tourniquet.store import INCIDENTS_BY_TYPE_INDEX

WEEKLY_REPORT = FunctionSpec(
    "WeeklyReport",
    "tourniquet.reports.handler.weekly",
    "Posts the last seven days' incident report to the Slack channel and the report channels.",
    environment=("TABLE_NAME", "SLACK_SECRET_ARN", "SLACK_CHANNEL"),
    timeout_seconds=60,
)
# A run that some channel did not take is tried again (for that channel only); the function's error alarm
# tells of the last failure.
RETRY_ATTEMPTS = 2


class WeeklyReport(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedule: str,
        functions: Functions,
        storage: AuditStorage,
        credentials: Credentials,
        channels: Channels,
    ) -> None:
        super().__init__(scope, construct_id)
        fn = functions.add(WEEKLY_REPORT)
        # Incidents through the index (it holds incident items only), and each incident's timeline.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Scan"],
                resources=[f"{storage.table.table_arn}/index/{INCIDENTS_BY_TYPE_INDEX}"],
            )
        )
        storage.grant(fn, ("dynamodb:Query",), partitions=("INCIDENT#*",))
        # Which channels took a period's report, so that a retry sends only to the others (reports.sent).
        storage.grant(fn, ("dynamodb:Query", "dynamodb:PutItem"), partitions=("REPORT#*",))
        grant_secret_value(fn, credentials.slack_secret)
        channels.attach_reports(fn)
        # The scheduler's own role may invoke this function and nothing else (not its versions either), for
        # schedules of this account only.
        role = iam.Role(
            self,
            "InvokeRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="Tourniquet: EventBridge Scheduler starts the weekly report",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn])
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            schedule_expression=schedule,
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=fn.function_arn,
                role_arn=role.role_arn,
                # The scheduled time, the same on every retry: the report's period ends there, and the
                # channels that took it are marked under it.
                input=json.dumps({"scheduled_time": scheduler.ContextAttribute.scheduled_time}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=RETRY_ATTEMPTS),
            ),
            description="Tourniquet: the weekly incident report",
        )
