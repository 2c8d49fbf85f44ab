"""The Tourniquet stack: triggers, the incident-response and release workflows and their functions, the audit
table, the HTTP edge (Slack interactions and alert webhooks) and the alarms that watch all of it.

Each part is a construct of its own module; the stack composes them and owns the outputs. Every exception to
the cdk-nag AwsSolutions rules is acknowledged on the one construct it concerns, with the reason next to the
code that needs it (:func:`stacks.nag.acknowledge`).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnElement, CfnOutput, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.channels import NOTIFIERS, Channels
from stacks.config import TourniquetConfig
from stacks.credentials import Credentials
from stacks.dashboard import IncidentDashboard
from stacks.feed import SiemFeed
from stacks.functions import Functions
from stacks.http_edge import HttpEdge
from stacks.logical_ids import GroupedLogicalIds
from stacks.monitoring import Monitoring
from stacks.names import STACK_NAME
from stacks.storage import AuditStorage
from stacks.topics import Topics
from stacks.triggers import Triggers
from stacks.weekly_report import WeeklyReport
from stacks.workflows import Workflows

__all__ = ["LOG_RETENTION", "RESOURCE_STAR_WRITE_ACTIONS", "STACK_NAME", "TourniquetStack"]

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# Write actions that AWS authorizes only on Resource "*" (the APIs have no resource-level permissions).
# Any other write action granted on "*" is a mistake; the infrastructure tests hold every policy to this list.
RESOURCE_STAR_WRITE_ACTIONS = frozenset(
    {
        # X-Ray tracing of the functions and the state machine.
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        # Step Functions log delivery to CloudWatch Logs (vended logs).
        "logs:CreateLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:PutResourcePolicy",
    }
)

# The parts the stack's resources were grouped into after it was first deployed. Their construct ids stay
# out of the resources' logical ids, so that CloudFormation keeps every deployed resource instead of
# replacing it (tests/infra/test_logical_ids.py). The alarms were a construct of their own from the start.
_GROUPS = ("Storage", "Topics", "Credentials", "Channels", "Functions", "Workflows", "Triggers", "HttpEdge")


class TourniquetStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: TourniquetConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope, construct_id, description="Tourniquet: AWS security incident response", **kwargs
        )
        self.config = config
        self._logical_ids = GroupedLogicalIds(_GROUPS)
        # The product never contains itself: everything it deploys carries the protected tag.
        Tags.of(self).add(config.protected_tag_key, "true")

        storage = AuditStorage(self, "Storage", deletion_protection=config.table_deletion_protection)
        topics = Topics(self, "Topics", escalation_topic_arn=config.escalation_topic_arn)
        credentials = Credentials(self, "Credentials")
        feed = SiemFeed(self, "SiemFeed")
        functions = Functions(
            self,
            "Functions",
            config=config,
            storage=storage,
            topics=topics,
            credentials=credentials,
            feed=feed,
            log_retention=LOG_RETENTION,
        )
        channels = Channels(self, "Channels", config=config.channels, topics=topics)
        for name in NOTIFIERS:
            channels.attach(functions[name])
        if config.weekly_report_schedule:
            WeeklyReport(
                self,
                "WeeklyReport",
                schedule=config.weekly_report_schedule,
                functions=functions,
                storage=storage,
                credentials=credentials,
                channels=channels,
            )
        workflows = Workflows(
            self, "Workflows", functions=functions.by_placeholder, topics=topics, log_retention=LOG_RETENTION
        )
        # The HTTP edge functions start or answer executions, so they learn of the workflows afterwards.
        functions.use_workflows(incident_response=workflows.incident_response, release=workflows.release)
        triggers = Triggers(self, "Triggers", config=config, state_machine=workflows.incident_response)
        edge = HttpEdge(
            self,
            "HttpEdge",
            slack_interaction=functions["SlackInteraction"],
            webhook=functions["Webhook"],
            log_retention=LOG_RETENTION,
        )
        monitoring = Monitoring(
            self,
            "Alarms",
            topic=topics.alarm_topic,
            state_machine=workflows.incident_response,
            release_machine=workflows.release,
            state_machine_logs=workflows.incident_response_logs,
            expiry_state=workflows.expiry_state,
            functions=functions.functions,
            throttled_functions=functions.flood_facing,
            dead_letter_queues={**triggers.dead_letter_queues, "SiemFeedDeadLetters": feed.dead_letters},
        )
        IncidentDashboard(self, "Incidents", alarms=monitoring.alarms)

        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "StateMachineArn", value=workflows.incident_response.state_machine_arn)
        CfnOutput(self, "ReleaseStateMachineArn", value=workflows.release.state_machine_arn)
        CfnOutput(self, "SlackInteractionsUrl", value=edge.slack_interactions_url)
        CfnOutput(self, "WebhookUrl", value=edge.webhook_url)
        CfnOutput(self, "EscalationTopicArn", value=topics.escalation_topic.topic_arn)
        CfnOutput(self, "AlarmTopicArn", value=topics.alarm_topic.topic_arn)
        CfnOutput(self, "SlackSecretArn", value=credentials.slack_secret.secret_arn)
        CfnOutput(self, "WebhookSecretArn", value=credentials.webhook_secret.secret_arn)
        if channels.pagerduty_secret is not None:
            CfnOutput(self, "PagerDutySecretArn", value=channels.pagerduty_secret.secret_arn)
        if channels.teams_secret is not None:
            CfnOutput(self, "TeamsSecretArn", value=channels.teams_secret.secret_arn)
        if channels.email_topic is not None:
            CfnOutput(self, "EmailTopicArn", value=channels.email_topic.topic_arn)
        CfnOutput(self, "SiemQueueUrl", value=feed.queue.queue_url)
        CfnOutput(self, "SiemQueueArn", value=feed.queue.queue_arn)

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        """``cfn_element``'s logical id from its path below the stack, leaving out :data:`_GROUPS`."""
        return self._logical_ids.allocate(self, cfn_element)
