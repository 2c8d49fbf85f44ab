"""The EventBridge rules that start the incident response: GuardDuty, Security Hub (CSPM's ASFF findings, the
new Security Hub's OCSF findings, and an analyst's custom action) and CloudWatch alarms.

:func:`trigger_rules` is the one list of what starts a workflow: the hub's rules start it, and each other
region's forwarder (:mod:`stacks.forwarder`) sends the same events to the hub's home region.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import SEVERITY_LABELS, TourniquetConfig, labels_at_or_above
from stacks.nag import acknowledge

# EventBridge delivery to the state machine: the most retries and the longest age EventBridge allows, then
# the dead-letter queue. An alert is never dropped silently.
EVENT_RETRY_ATTEMPTS = 185
EVENT_MAX_AGE = Duration.hours(24)
DEAD_LETTER_RETENTION = Duration.days(14)
# OCSF severity_id of each label (6, Fatal, is above Critical); status_id 1 New and 2 In Progress.
_OCSF_SEVERITY_IDS = {label: index + 1 for index, label in enumerate(SEVERITY_LABELS)}
_OCSF_OPEN_STATUSES = [1, 2]


@dataclass(frozen=True)
class TriggerRule:
    """One alert source the config enables: its rule's construct id, description and event pattern."""

    construct_id: str
    description: str
    pattern: events.EventPattern


def trigger_rules(config: TourniquetConfig) -> tuple[TriggerRule, ...]:
    """The rules the config enables, each with the filter that decides which events start a workflow."""
    rules = [
        TriggerRule(
            "GuardDutyFindings",
            "GuardDuty findings at or above the configured severity start the incident response.",
            events.EventPattern(
                source=["aws.guardduty"],
                detail_type=["GuardDuty Finding"],
                detail={"severity": events.Match.greater_than_or_equal(config.guardduty_min_severity)},
            ),
        )
    ]
    if config.securityhub_product_names:
        rules.append(
            TriggerRule(
                "SecurityHubFindings",
                "Active, new Security Hub findings of the configured products and severities start the "
                "incident response.",
                events.EventPattern(
                    source=["aws.securityhub"],
                    detail_type=["Security Hub Findings - Imported"],
                    detail={
                        "findings": {
                            "ProductName": list(config.securityhub_product_names),
                            "Severity": {"Label": labels_at_or_above(config.securityhub_min_severity)},
                            "RecordState": ["ACTIVE"],
                            # Resolved and suppressed findings are someone's decision already.
                            "Workflow": {"Status": ["NEW", "NOTIFIED"]},
                        }
                    },
                ),
            )
        )
    if config.securityhub_v2_product_names:
        rules.append(
            TriggerRule(
                "SecurityHubOcsfFindings",
                "New and in-progress findings of the new Security Hub (OCSF) of the configured products and "
                "severities start the incident response.",
                events.EventPattern(
                    source=["aws.securityhub"],
                    detail_type=["Findings Imported V2"],
                    detail={
                        "findings": {
                            "metadata": {"product": {"name": list(config.securityhub_v2_product_names)}},
                            "severity_id": events.Match.greater_than_or_equal(
                                _OCSF_SEVERITY_IDS[config.securityhub_v2_min_severity]
                            ),
                            # Resolved, suppressed and archived findings are someone's decision already.
                            "status_id": _OCSF_OPEN_STATUSES,
                        }
                    },
                ),
            )
        )
    if config.securityhub_custom_action_ids:
        rules.append(
            TriggerRule(
                "SecurityHubCustomAction",
                "An analyst's use of Tourniquet's Security Hub custom action starts the incident response "
                "for the findings chosen.",
                events.EventPattern(
                    source=["aws.securityhub"],
                    detail_type=["Security Hub Findings - Custom Action"],
                    # Only these custom actions: others belong to other tools. No region is named, so a
                    # forwarded click is taken as a local one.
                    resources=events.Match.any_of(
                        *(
                            events.Match.suffix(f":action/custom/{name}")
                            for name in config.securityhub_custom_action_ids
                        )
                    ),
                ),
            )
        )
    if config.cloudwatch_alarm_prefixes:
        rules.append(
            TriggerRule(
                "CloudWatchAlarms",
                "Alarms named with a configured prefix open an incident in ALARM and resolve it back in OK.",
                events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=["CloudWatch Alarm State Change"],
                    detail={
                        "alarmName": events.Match.any_of(
                            *(events.Match.prefix(prefix) for prefix in config.cloudwatch_alarm_prefixes)
                        ),
                        # ALARM opens an incident, OK resolves it; INSUFFICIENT_DATA says nothing.
                        "state": {"value": ["ALARM", "OK"]},
                    },
                ),
            )
        )
    return tuple(rules)


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
