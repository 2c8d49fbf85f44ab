"""The incident dashboard: how fast incidents were told, contained and decided, and the alarms' state.

The metric names, namespace and dimensions come from the module that emits them
(``tourniquet.incidents.measures``): the dashboard cannot show a metric that nothing emits.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from tourniquet.incidents import measures

PERIOD = Duration.hours(1)
WIDTH = 12
HEIGHT = 6
TITLES = {
    measures.TIME_TO_NOTIFY: "Time to notify (s from opening)",
    measures.TIME_TO_CONTAIN: "Time to the first verified automatic containment (s)",
    measures.TIME_TO_DECISION: "Time to the approvers' decision (s)",
    measures.TIME_TO_DESTRUCTIVE_STEP: "Time to the approved destructive step (s)",
}


def _service_metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=measures.NAMESPACE,
        metric_name=name,
        dimensions_map={"service": measures.SERVICE},
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


def _by_playbook(name: str, statistic: str) -> cloudwatch.MathExpression:
    """One line per playbook and outcome that emitted ``name``, whatever playbooks the team keeps."""
    schema = ",".join((measures.NAMESPACE, *measures.DIMENSIONS))
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{schema}}} MetricName=\"{name}\"', '{statistic}', {PERIOD.to_seconds()})",
        label="",
        period=PERIOD,
    )


class IncidentDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        super().__init__(scope, construct_id)
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Incidents closed, by playbook and outcome",
                left=[_by_playbook(measures.INCIDENTS_CLOSED, "Sum")],
                stacked=True,
                width=WIDTH,
                height=HEIGHT,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=WIDTH, height=HEIGHT),
        ]
        for name in measures.TIMES:
            widgets.append(
                cloudwatch.GraphWidget(
                    title=TITLES[name],
                    left=[_service_metric(name, "p50", "median"), _service_metric(name, "p90", "p90")],
                    right=[_by_playbook(name, "p90")],
                    right_y_axis=cloudwatch.YAxisProps(label="p90 by playbook, outcome", show_units=False),
                    width=WIDTH,
                    height=HEIGHT,
                )
            )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{Stack.of(self).stack_name}-incidents",
            default_interval=Duration.days(7),
            widgets=[widgets[i : i + 2] for i in range(0, len(widgets), 2)],
        )
