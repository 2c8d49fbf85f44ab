"""The EventBridge rules that start the incident response: GuardDuty, Security Hub (CSPM's ASFF findings, the
new Security Hub's OCSF findings, and an analyst's custom action) and CloudWatch alarms.

:func:`trigger_rules` is the one list of what starts a workflow: the hub's rules start it, and each other
region's forwarder (:mod:`stacks.forwarder`) sends the same events to the hub's home region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import TourniquetConfig
from stacks.nag import acknowledge
from stacks.rules import rules

# EventBridge delivery to the state machine: the most retries and the longest age EventBridge allows, then
# the dead-letter queue. An alert is never dropped silently.
EVENT_RETRY_ATTEMPTS = 185
EVENT_MAX_AGE = Duration.hours(24)
DEAD_LETTER_RETENTION = Duration.days(14)


@dataclass(frozen=True)
class TriggerRule:
    """One alert source the config enables: its rule's construct id, description and event pattern."""

    construct_id: str
    description: str
    pattern: events.EventPattern


def trigger_rules(config: TourniquetConfig) -> tuple[TriggerRule, ...]:
    """The rules the config enables (:func:`stacks.rules.rules`), each with the filter that decides which
    events start a workflow."""
    return tuple(
        TriggerRule(rule.construct_id, rule.description, _event_pattern(rule.pattern()))
        for rule in rules(config)
    )


def _event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """The CDK's form of a JSON pattern: the detail as it is; a top-level field's value matchers as Match."""
    resources = pattern.get("resources")
    return events.EventPattern(
        source=pattern["source"],
        detail_type=pattern["detail-type"],
        detail=pattern.get("detail"),
        resources=events.Match.any_of(*(events.Match.suffix(r["suffix"]) for r in resources))
        if resources
        else None,
    )


def dead_letter_queue(scope: Construct, construct_id: str, rule_id: str) -> sqs.Queue:
    """The encrypted queue where EventBridge puts what it could not deliver for ``rule_id``'s target."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is the dead-letter queue of the {rule_id} rule's target (EventBridge "
        "DeadLetterConfig), which cdk-nag does not recognize; a queue of last resort has no DLQ itself.",
    )
    return queue


class Triggers(Construct):
    """One rule per alert source the config enables, each with its own dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self._state_machine = state_machine
        # Queue construct id → queue, for the alarms on their depth.
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for rule in trigger_rules(config):
            self._rule(rule.construct_id, rule.description, rule.pattern)

    def _rule(self, construct_id: str, description: str, pattern: events.EventPattern) -> None:
        """A rule that starts the workflow with the event, retrying for a day before the dead-letter queue."""
        dead_letters = dead_letter_queue(self, f"{construct_id}DeadLetters", construct_id)
        self.dead_letter_queues[f"{construct_id}DeadLetters"] = dead_letters
        events.Rule(
            self,
            construct_id,
            description=description,
            event_pattern=pattern,
            targets=[
                targets.SfnStateMachine(
                    self._state_machine,
                    dead_letter_queue=dead_letters,
                    retry_attempts=EVENT_RETRY_ATTEMPTS,
                    max_event_age=EVENT_MAX_AGE,
                )
            ],
        )
