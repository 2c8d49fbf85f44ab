"""Each deployed state machine is its ASL file, with every placeholder bound to the right resource."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.asl import DefinitionError, approval_expiry_state, placeholders
from stacks.functions import FUNCTIONS
from stacks.synth import render_definition
from stacks.tourniquet_stack import STACK_NAME
from stacks.workflows import ASL_PATH, ESCALATION_TOPIC_PLACEHOLDER, RELEASE_ASL_PATH
from tests.infra.cfn import (
    Template,
    actions,
    allowed_actions,
    as_list,
    fake_value,
    function_by_handler,
    granting,
    one,
    resources,
    role_statements,
)
from tests.infra.configs import EXISTING_TOPIC_ARN

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
# Each workflow's construct id and its ASL file.
WORKFLOWS = {"IncidentResponse": ASL_PATH, "ReleaseIncident": RELEASE_ASL_PATH}
each_workflow = pytest.mark.parametrize("workflow", sorted(WORKFLOWS))


def state_names(machine: dict[str, Any]) -> set[str]:
    names = set()
    for name, state in machine["States"].items():
        names.add(name)
        for branch in state.get("Branches", []):
            names |= state_names(branch)
        if "ItemProcessor" in state:
            names |= state_names(state["ItemProcessor"])
    return names


def deployed_definition(template: Template, workflow: str = "IncidentResponse") -> str:
    _, machine = one(template, STATE_MACHINE, workflow)
    return render_definition(machine["Properties"], fake_value)


def invoked_specs(workflow: str) -> list[Any]:
    """The functions whose placeholders the workflow's ASL file names."""
    named = placeholders(WORKFLOWS[workflow].read_text())
    return [spec for spec in FUNCTIONS if spec.placeholder in named]


def expected_values(template: Template, topic: str, workflow: str = "IncidentResponse") -> dict[str, str]:
    """What each placeholder must become: the matching function's ARN, and the escalation topic."""
    values = {
        spec.placeholder: fake_value({"Fn::GetAtt": [function_by_handler(template, spec.handler)[0], "Arn"]})
        for spec in invoked_specs(workflow)
    }
    if ESCALATION_TOPIC_PLACEHOLDER in placeholders(WORKFLOWS[workflow].read_text()):
        values[ESCALATION_TOPIC_PLACEHOLDER] = topic
    return values


def substituted_file(values: dict[str, str], workflow: str = "IncidentResponse") -> Any:
    text = WORKFLOWS[workflow].read_text()
    for placeholder, value in values.items():
        text = text.replace(f"${{{placeholder}}}", value)
    return json.loads(text)


def test_there_are_exactly_the_two_workflows(template: Template) -> None:
    machines = {lid for lid in resources(template, STATE_MACHINE)}
    assert len(machines) == len(WORKFLOWS)
    assert all(any(lid.startswith(name) for lid in machines) for name in WORKFLOWS)


@each_workflow
def test_every_placeholder_is_substituted(template: Template, workflow: str) -> None:
    text = deployed_definition(template, workflow)
    assert "${" not in text
    deployed = json.loads(text)
    assert state_names(deployed) == state_names(json.loads(WORKFLOWS[workflow].read_text()))


@each_workflow
def test_the_definition_is_the_asl_file_with_each_arn_of_the_right_resource(
    template: Template, workflow: str
) -> None:
    topic_id, _ = one(template, "AWS::SNS::Topic", "EscalationTopic")
    values = expected_values(template, fake_value({"Ref": topic_id}), workflow)
    assert set(values) == placeholders(WORKFLOWS[workflow].read_text())
    assert json.loads(deployed_definition(template, workflow)) == substituted_file(values, workflow)


def test_an_existing_escalation_topic_is_substituted_as_configured(variant_template: Template) -> None:
    values = expected_values(variant_template, EXISTING_TOPIC_ARN)
    assert json.loads(deployed_definition(variant_template)) == substituted_file(values)


@each_workflow
def test_standard_workflow_with_full_logging_and_tracing(template: Template, workflow: str) -> None:
    _, machine = one(template, STATE_MACHINE, workflow)
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    # Execution data holds task tokens and alert details; it stays out of CloudWatch.
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


@each_workflow
def test_the_execution_log_is_a_vended_log_group(template: Template, workflow: str) -> None:
    _, machine = one(template, STATE_MACHINE, workflow)
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    # Under /aws/vendedlogs/, log delivery does not grow the account's size-limited log resource policy.
    name = template["Resources"][log_group]["Properties"]["LogGroupName"]
    assert name == f"/aws/vendedlogs/states/{STACK_NAME}-{workflow}"


@each_workflow
def test_the_role_invokes_exactly_the_workflow_functions_and_publishes_to_the_topic(
    template: Template, workflow: str
) -> None:
    _, machine = one(template, STATE_MACHINE, workflow)
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(template, role)

    (invoke,) = granting(statements, "lambda:InvokeFunction")
    assert actions(invoke) == {"lambda:InvokeFunction"}
    # The unqualified ARNs the definition names: no version or alias wildcard.
    assert sorted(json.dumps(r) for r in as_list(invoke["Resource"])) == sorted(
        json.dumps({"Fn::GetAtt": [function_by_handler(template, spec.handler)[0], "Arn"]})
        for spec in invoked_specs(workflow)
    )

    topic_id, _ = one(template, "AWS::SNS::Topic", "EscalationTopic")
    publish = granting(statements, "sns:Publish")
    # Only the incident response publishes itself (EscalateExpiry); the release notifies through Notify.
    expected = [{"Ref": topic_id}] if workflow == "IncidentResponse" else []
    assert [st["Resource"] for st in publish] == expected
    assert not {action for action in allowed_actions(statements) if action.startswith("states:")}


def test_an_expired_approval_enters_the_state_the_alarm_watches() -> None:
    assert approval_expiry_state(ASL_PATH.read_text()) == ("Expired", "Pass")


def callback(name: str, on_timeout: str | None) -> dict[str, Any]:
    catchers = [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]
    if on_timeout is not None:
        catchers.insert(0, {"ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"], "Next": on_timeout})
    return {
        name: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Catch": catchers,
            "End": True,
        }
    }


END_STATES = {
    "Expired": {"Type": "Pass", "End": True},
    "Late": {"Type": "Succeed"},
    "Failed": {"Type": "Fail"},
}


def test_a_reminder_chain_expires_into_its_last_state() -> None:
    states = {**callback("Ask", "Remind"), **callback("Remind", "Expired"), **END_STATES}
    definition = json.dumps({"StartAt": "Ask", "States": states})
    assert approval_expiry_state(definition) == ("Expired", "Pass")


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (END_STATES, r"^no \.waitForTaskToken task: nothing waits for an approval$"),
        ({**callback("Ask", None), **END_STATES}, r"^Ask does not catch States\.Timeout$"),
        (
            {**callback("Ask", "Remind"), **callback("Remind", "Ask"), **END_STATES},
            r"^the timeouts of Ask, Remind lead back to Ask$",
        ),
        (
            {**callback("Ask", "Expired"), **callback("Other", "Late"), **END_STATES},
            r"^approvals expire into several states: Expired, Late$",
        ),
    ],
)
def test_a_definition_without_one_bounded_approval_end_is_refused(
    states: dict[str, Any], message: str
) -> None:
    definition = json.dumps({"StartAt": next(iter(states)), "States": states})
    with pytest.raises(DefinitionError, match=message):
        approval_expiry_state(definition)
