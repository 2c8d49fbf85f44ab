"""Alarms on everything that can fail or get stuck, all sent to one SNS topic.

Every alarm fires on the first occurrence (a sum or maximum of at least 1 in five minutes) and treats
missing data as fine: a quiet stack is a healthy one. Their names start with ``OWN_ALARM_PREFIX``, which the
CloudWatch alarm trigger refuses to select, so an alarm about Tourniquet never starts a Tourniquet workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import OWN_ALARM_PREFIX
from tourniquet.incidents.measures import NAMESPACE

PERIOD = Duration.minutes(5)
METRIC_NAMESPACE = NAMESPACE
APPROVALS_EXPIRED_METRIC = "ApprovalsExpired"


@dataclass(frozen=True)
class ExpiryState:
    """The workflow state entered when an approval waits past its timeout (see ``stacks.asl``)."""

    name: str
    type: str

    @property
    def entered_event(self) -> str:
        """The execution log event type Step Functions writes when the state is entered."""
        return f"{self.type}StateEntered"


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        state_machine: sfn.StateMachine,
        release_machine: sfn.StateMachine,
        state_machine_logs: logs.ILogGroup,
        expiry_state: ExpiryState,
        functions: Mapping[str, lambda_.Function],
        throttled_functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.Queue],
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []

        self._alarm(
            "ExecutionsFailed",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "An incident-response execution failed. It was recorded on the incident (RecordFailure); "
            "read the execution history and the incident's timeline.",
        )
        self._alarm(
            "ExecutionsTimedOut",
            state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
            "An incident-response execution timed out before it finished.",
        )
        self._alarm(
            "ExecutionsAborted",
            state_machine.metric_aborted(period=PERIOD, statistic="Sum"),
            "Someone stopped an incident-response execution; its incident was left as it was.",
        )
        self._alarm(
            "ReleasesFailed",
            release_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "An approved release did not complete: some resources may still be contained. Each restoration "
            "is on the incident's timeline (tourniquet incident show); retry with tourniquet release.",
        )
        self._alarm(
            APPROVALS_EXPIRED_METRIC,
            self._approvals_expired(state_machine_logs, expiry_state),
            "An approval request waited longer than the approval timeout without a decision. The incident "
            "stays contained (reversible steps only) and was escalated; decide on it now.",
        )
        for name, fn in functions.items():
            self._alarm(
                f"{name}Errors",
                fn.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {name} function raised an error (its log group has the details).",
            )
        for name, fn in throttled_functions.items():
            self._alarm(
                f"{name}Throttles",
                fn.metric_throttles(period=PERIOD, statistic="Sum"),
                f"The {name} function was throttled: requests arrive faster than its reserved concurrency "
                "(or, without one, the account's unreserved concurrency) lets it run them, and the callers "
                "retry.",
            )
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"Events that could not start the workflow are waiting in {name}: "
                "they were not handled. Replay them once the cause is fixed.",
            )

    def _approvals_expired(self, log_group: logs.ILogGroup, state: ExpiryState) -> cloudwatch.IMetric:
        # The execution log (level ALL) records every state entry by name, with or without execution data.
        metric_filter = logs.MetricFilter(
            self,
            f"{APPROVALS_EXPIRED_METRIC}Filter",
            log_group=log_group,
            metric_namespace=METRIC_NAMESPACE,
            metric_name=APPROVALS_EXPIRED_METRIC,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.type", "=", state.entered_event),
                logs.FilterPattern.string_value("$.details.name", "=", state.name),
            ),
            metric_value="1",
        )
        return metric_filter.metric(period=PERIOD, statistic="Sum")

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{OWN_ALARM_PREFIX}{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
