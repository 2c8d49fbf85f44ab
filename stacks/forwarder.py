"""A forwarder stack: in each configured region besides the home region, the hub's rules with the hub's bus as
their target.

GuardDuty, Security Hub and CloudWatch put their events on the default event bus of the region they happen in,
and the hub's rules see only the home region's. A forwarder has the same rules with the same patterns
(:func:`stacks.triggers.trigger_rules`) and sends what they match to the home region's default bus, where the
hub's rules start the workflow. The events keep their ``source``, ``detail-type``, ``account`` and ``region``,
and the hub's patterns name no region, so a forwarded event is taken exactly like a local one.

The forwarders are deployed with the hub, in the hub's account: a default bus accepts ``events:PutEvents``
from a role of its own account in any region, so the hub needs no bus policy, and no other account can send
to it through a forwarder.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Stack, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import TourniquetConfig
from stacks.triggers import EVENT_MAX_AGE, EVENT_RETRY_ATTEMPTS, dead_letter_queue, trigger_rules

# Every account and region has one default bus; AWS services publish only to it.
DEFAULT_BUS = "default"


class ForwarderStack(Stack):
    """One region's rules, each sending its events to the home region's default bus."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        home_region: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Tourniquet forwarder: sends this region's findings and alarms to the hub's region",
            **kwargs,
        )
        # The product never contains itself.
        Tags.of(self).add(config.protected_tag_key, "true")
        home_bus_arn = self.format_arn(
            service="events", region=home_region, resource="event-bus", resource_name=DEFAULT_BUS
        )
        home_bus = events.EventBus.from_event_bus_arn(self, "HomeBus", home_bus_arn)
        # A bus in another region is reached through a role, which EventBridge may assume only for this
        # account's rules in this region. The EventBus target grants it events:PutEvents on the home bus only.
        role = iam.Role(
            self,
            "ForwardRole",
            description="Tourniquet forwarder: EventBridge puts matched events on the hub region's bus",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(service="events", resource="rule", resource_name="*")
                    },
                }
            ),
        )
        for trigger in trigger_rules(config):
            dead_letters = dead_letter_queue(self, f"{trigger.construct_id}DeadLetters", trigger.construct_id)
            rule = events.Rule(
                self,
                trigger.construct_id,
                description=f"Forwarded to the hub's region: {trigger.description}",
                event_pattern=trigger.pattern,
                targets=[targets.EventBus(home_bus, role=role, dead_letter_queue=dead_letters)],
            )
            # CDK's EventBus target takes no retry policy (aws/aws-cdk#28735); the rule's target does. The
            # hub's own limits: a day of retries, then the dead-letter queue.
            cast(events.CfnRule, rule.node.default_child).add_property_override(
                "Targets.0.RetryPolicy",
                {
                    "MaximumRetryAttempts": EVENT_RETRY_ATTEMPTS,
                    "MaximumEventAgeInSeconds": int(EVENT_MAX_AGE.to_seconds()),
                },
            )
