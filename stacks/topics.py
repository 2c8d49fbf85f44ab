"""The alarm topic and the escalation topic (or an existing one), and the key that encrypts them."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.storage import retained_key

# SNS encrypts each published message with a data key of the topic's key.
TOPIC_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
CLOUDWATCH = "cloudwatch.amazonaws.com"


class Topics(Construct):
    """Where alarms go (operators) and where escalations go (the on-call pager)."""

    def __init__(self, scope: Construct, construct_id: str, *, escalation_topic_arn: str | None) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = retained_key(self, "TopicKey", "Tourniquet: encrypts the alarm and escalation topics")
        # CloudWatch alarms publish to the alarm topic as the CloudWatch service, which the AWS-managed SNS
        # key does not admit; this customer-managed key does (with the actions the SNS guide names), for
        # this account's alarms only (no confused deputy).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )

        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", display_name="Tourniquet alarms", master_key=self.key, enforce_ssl=True
        )
        # Only alarms of this account may publish as the CloudWatch service (no confused deputy).
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )

        # A topic given in the config brings its own key policy (docs/deploy.md).
        self._owns_escalation_topic = escalation_topic_arn is None
        self.escalation_topic: sns.ITopic = (
            sns.Topic(
                self,
                "EscalationTopic",
                display_name="Tourniquet escalations",
                master_key=self.key,
                enforce_ssl=True,
            )
            if escalation_topic_arn is None
            else sns.Topic.from_topic_arn(self, "EscalationTopic", escalation_topic_arn)
        )

    def grant_escalation(self, grantee: iam.IGrantable) -> None:
        """Allow publishing escalations, and the use of the topic key through SNS when the topic is ours."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.escalation_topic.topic_arn])
        )
        if self._owns_escalation_topic:
            self.grant_key(grantee)

    def grant_key(self, grantee: iam.IGrantable) -> None:
        """Allow the use of the topic key, through SNS only, to publish to a topic it encrypts."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(TOPIC_KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
