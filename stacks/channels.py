"""The channels that the configuration names: the PagerDuty routing key and the Teams webhook URL (each a
secret, its value stored by an operator), the e-mail topic, and Slack's route (Slack's own secret and channel
are every Slack function's, ``stacks.functions``). Only the functions that notify use them: each gets the
routes (``CHANNEL_ROUTES``), the ARNs, and leave to read or publish to exactly those. The weekly report gets
the same for the channels that carry reports (Slack, Teams, e-mail)."""

from __future__ import annotations

import json

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import ChannelsConfig
from stacks.credentials import grant_secret_value
from stacks.nag import acknowledge
from stacks.topics import Topics
from tourniquet.channels.routing import carries_reports

# The functions that tell the channels: the approval request, the click (acknowledge), and the notifications.
NOTIFIERS = ("RequestApproval", "SlackInteraction", "Notify")


class Channels(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: ChannelsConfig, topics: Topics
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._topics = topics
        self.pagerduty_secret = (
            self._secret(
                "PagerDutySecret",
                "Tourniquet PagerDuty: JSON with routing_key, the Events API v2 integration key.",
                "PagerDuty issues the routing key: rotate it there and store the new one (docs/channels.md).",
            )
            if config.pagerduty is not None
            else None
        )
        self.teams_secret = (
            self._secret(
                "TeamsSecret",
                "Tourniquet Microsoft Teams: JSON with webhook_url, the Teams Workflows webhook.",
                "Teams issues the webhook URL: rotate it there and store the new one (docs/channels.md).",
            )
            if config.teams is not None
            else None
        )
        self.email_topic: sns.Topic | None = None
        if config.email is not None:
            self.email_topic = sns.Topic(
                self,
                "EmailTopic",
                display_name="Tourniquet incidents",
                master_key=topics.key,
                enforce_ssl=True,
            )
            for address in config.email.addresses:
                self.email_topic.add_subscription(subscriptions.EmailSubscription(address))

    def _secret(self, construct_id: str, description: str, rotation: str) -> secretsmanager.Secret:
        # The generated value is no credential of the service: the channel fails (on the timeline) until an
        # operator stores the real one.
        secret = secretsmanager.Secret(self, construct_id, description=description)
        acknowledge(secret, "AwsSolutions-SMG4", rotation)
        return secret

    def attach(self, fn: lambda_.Function) -> None:
        """Give ``fn`` the routes and what each configured channel needs, and nothing more."""
        self._attach(fn, self._config.routes())

    def attach_reports(self, fn: lambda_.Function) -> None:
        """Give ``fn`` (the weekly report) what the configured channels that carry reports need (Slack's
        route, Teams, e-mail), and nothing more: PagerDuty pages people and gets no report."""
        self._attach(
            fn, {name: route for name, route in self._config.routes().items() if carries_reports(name)}
        )

    def _attach(self, fn: lambda_.Function, routes: dict[str, dict[str, list[str]]]) -> None:
        if not routes:
            return
        fn.add_environment("CHANNEL_ROUTES", json.dumps(routes, separators=(",", ":")))
        if self.pagerduty_secret is not None and "pagerduty" in routes:
            fn.add_environment("PAGERDUTY_SECRET_ARN", self.pagerduty_secret.secret_arn)
            grant_secret_value(fn, self.pagerduty_secret)
        if self.teams_secret is not None and "teams" in routes:
            fn.add_environment("TEAMS_SECRET_ARN", self.teams_secret.secret_arn)
            grant_secret_value(fn, self.teams_secret)
        if self.email_topic is not None and "email" in routes:
            fn.add_environment("EMAIL_TOPIC_ARN", self.email_topic.topic_arn)
            fn.add_to_role_policy(
                iam.PolicyStatement(actions=["sns:Publish"], resources=[self.email_topic.topic_arn])
            )
            self._topics.grant_key(fn)
