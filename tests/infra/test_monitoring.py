"""Alarms: on failed and stuck executions, expired approvals, every function's errors, throttling of the
flood-facing functions and every dead-letter queue, all sent to the encrypted alarm topic."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import OWN_ALARM_PREFIX
from stacks.functions import FUNCTIONS
from tests.infra.cfn import Template, function_by_handler, one, only, resources


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarm name → properties."""
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
    }


def dimension(props: dict[str, Any]) -> tuple[str, Any]:
    (only_dimension,) = props["Dimensions"]
    return only_dimension["Name"], only_dimension["Value"]


def test_every_alarm_fires_on_the_first_occurrence_to_the_alarm_topic(template: Template) -> None:
    topic_id, _ = one(template, "AWS::SNS::Topic", "AlarmTopic")
    found = alarms(template)
    assert found
    for name, props in found.items():
        assert name.startswith(OWN_ALARM_PREFIX)
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["Threshold"] == 1, name
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert props["EvaluationPeriods"] == 1, name
        assert props["Period"] == 300, name
        # A quiet stack is a healthy one.
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmDescription"], name


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
def test_executions_that_did_not_finish_well_raise_an_alarm(template: Template, metric: str) -> None:
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    props = alarms(template)[f"{OWN_ALARM_PREFIX}{metric}"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/States", metric, "Sum")
    assert dimension(props) == ("StateMachineArn", {"Ref": machine_id})


def test_every_function_has_an_error_alarm(template: Template) -> None:
    found = alarms(template)
    for spec in FUNCTIONS:
        function_id, _ = function_by_handler(template, spec.handler)
        props = found[f"{OWN_ALARM_PREFIX}{spec.construct_id}Errors"]
        assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
            "AWS/Lambda",
            "Errors",
            "Sum",
        )
        assert dimension(props) == ("FunctionName", {"Ref": function_id})


@pytest.mark.parametrize("fixture", ["template", "variant_template"])
def test_every_flood_facing_function_has_a_throttle_alarm_with_or_without_reservations(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    found = alarms(request.getfixturevalue(fixture))
    throttled = {name for name, props in found.items() if props["MetricName"] == "Throttles"}
    assert throttled == {
        f"{OWN_ALARM_PREFIX}{spec.construct_id}Throttles"
        for spec in FUNCTIONS
        if spec.reserved_concurrency is not None
    }


@pytest.mark.parametrize("fixture", ["template", "minimal_template"])
def test_every_dead_letter_queue_has_a_depth_alarm(request: pytest.FixtureRequest, fixture: str) -> None:
    template: Template = request.getfixturevalue(fixture)
    watched = {
        dimension(props)[1]["Fn::GetAtt"][0]
        for props in alarms(template).values()
        if props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    # Every queue but the SIEM feed itself, whose depth is the SIEM's to keep down.
    queues = {lid for lid in resources(template, "AWS::SQS::Queue") if not lid.startswith("SiemFeedQueue")}
    assert watched == queues
    for props in alarms(template).values():
        if props["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert (props["Namespace"], props["Statistic"]) == ("AWS/SQS", "Maximum")


def test_expired_approvals_are_counted_from_the_execution_log(template: Template) -> None:
    _, machine = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]

    _, metric_filter = only(template, "AWS::Logs::MetricFilter")
    props = metric_filter["Properties"]
    assert props["LogGroupName"] == {"Ref": log_group_id}
    # The state the approval's States.Timeout catcher leads to (see test_state_machine).
    assert props["FilterPattern"] == '{ ($.type = "PassStateEntered") && ($.details.name = "Expired") }'
    (transformation,) = props["MetricTransformations"]
    assert transformation == {
        "MetricName": "ApprovalsExpired",
        "MetricNamespace": "Tourniquet",
        "MetricValue": "1",
    }

    alarm = alarms(template)[f"{OWN_ALARM_PREFIX}ApprovalsExpired"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "Tourniquet",
        "ApprovalsExpired",
        "Sum",
    )
    # The state machine logs every event: the filter depends on it.
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_the_alarm_count(template: Template) -> None:
    capped = sum(spec.reserved_concurrency is not None for spec in FUNCTIONS)
    queues = len(resources(template, "AWS::SQS::Queue")) - 1  # the SIEM feed's own queue is not watched
    # Three on incident-response executions, one on failed releases, one on expired approvals.
    assert len(alarms(template)) == 3 + 1 + 1 + len(FUNCTIONS) + capped + queues


def test_a_failed_release_raises_an_alarm(template: Template) -> None:
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "ReleaseIncident")
    alarm = alarms(template)[f"{OWN_ALARM_PREFIX}ReleasesFailed"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/States",
        "ExecutionsFailed",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine_id}}]
