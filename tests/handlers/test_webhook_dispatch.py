"""The intake dispatcher: deliveries that reach a function directly (SNS subscriptions, CloudWatch Lambda
alarm actions, Security Hub events) start one workflow execution per alert; a retry starts nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.helpers import REGION, load_event, moto_client
from tourniquet.errors import InvalidAlert, Throttled
from tourniquet.intake import executions
from tourniquet.intake.common import Resolved
from tourniquet.intake.handler import dispatch
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize

CONTEXT = SimpleNamespace(
    function_name="tourniquet-dispatch",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-dispatch",
    aws_request_id="00000000-0000-0000-0000-000000000004",
)
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:tourniquet-incident-response"


@pytest.fixture
def workflow(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    sfn = moto_client("stepfunctions")
    machine = sfn.create_state_machine(
        name="tourniquet-incident-response",
        definition=json.dumps({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/tourniquet-workflow",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    yield SimpleNamespace(sfn=sfn, machine=machine)


def inputs(ns: SimpleNamespace) -> list[dict[str, Any]]:
    listed = ns.sfn.list_executions(stateMachineArn=ns.machine)["executions"]
    return [json.loads(ns.sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]


def _sns(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"MessageId": str(i), "Message": json.dumps(message)}}
            for i, message in enumerate(messages)
        ]
    }


def test_an_sns_batch_starts_one_execution_per_alert(workflow):
    delivery = _sns(load_event("guardduty_ec2_finding"), load_event("securityhub_custom_action"))

    result = dispatch(delivery, CONTEXT)

    assert result["started"] == 3
    started = [normalize(event) for event in inputs(workflow)]
    assert sorted(a.type for a in started if isinstance(a, Alert)) == [
        "CredentialAccess:IAMUser/AnomalousBehavior",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "S3.8",
    ]


def test_a_lambda_alarm_action_starts_the_workflow_with_the_alarm(workflow):
    dispatch(load_event("cloudwatch_alarm_lambda_action"), CONTEXT)

    (started,) = inputs(workflow)
    assert started == load_event("cloudwatch_alarm_lambda_action")


def test_an_sns_wrapped_recovery_reaches_the_workflow_as_a_resolution(workflow):
    dispatch(_sns(load_event("cloudwatch_alarm_ok")), CONTEXT)

    (started,) = inputs(workflow)
    assert isinstance(normalize(started), Resolved)


def test_a_redelivered_message_starts_nothing_twice(workflow):
    delivery = load_event("cloudwatch_alarm_sns")

    first = dispatch(delivery, CONTEXT)
    again = dispatch(delivery, CONTEXT)

    assert again["executions"] == first["executions"]
    assert len(inputs(workflow)) == 1


def test_an_unusable_delivery_is_started_whole_so_the_workflow_records_the_failure(workflow):
    delivery = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "disk almost full"}}]}

    dispatch(delivery, CONTEXT)

    (started,) = inputs(workflow)
    assert started == delivery
    with pytest.raises(InvalidAlert):
        normalize(started)


def test_without_a_workflow_to_start_the_dispatcher_fails_loudly(aws, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)

    with pytest.raises(ValueError, match="STATE_MACHINE_ARN"):
        dispatch(load_event("cloudwatch_alarm_sns"), CONTEXT)


@pytest.fixture
def stubbed(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = moto_client("stepfunctions")
    monkeypatch.setattr("tourniquet.aws.client", lambda service: client)
    with Stubber(client) as stubber:
        yield stubber


def test_an_execution_that_already_exists_counts_as_started(stubbed):
    stubbed.add_client_error(
        "start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400
    )

    (started,) = executions.start_all(MACHINE, "dispatch", "", [("", {"a": 1})])

    assert started.already_running is True
    assert started.execution_arn.startswith(MACHINE.replace(":stateMachine:", ":execution:") + ":dispatch-")


def test_throttling_that_outlasts_the_retries_is_raised_as_throttled(stubbed):
    stubbed.add_client_error(
        "start_execution", service_error_code="ThrottlingException", http_status_code=400
    )

    with pytest.raises(Throttled):
        executions.start_all(MACHINE, "dispatch", "", [("", {"a": 1})])


def test_other_errors_are_raised_as_they_are(stubbed):
    stubbed.add_client_error(
        "start_execution", service_error_code="AccessDeniedException", http_status_code=400
    )

    with pytest.raises(ClientError):
        executions.start_all(MACHINE, "dispatch", "", [("", {"a": 1})])


def test_execution_names_are_valid_and_depend_on_the_delivery():
    event = {"alert": "x" * 500}
    name = executions.execution_name("webhook-grafana", "req-1", "alerts[0]", event)

    assert len(name) <= 80 and name.replace("-", "").replace("_", "").isalnum()
    assert name == executions.execution_name("webhook-grafana", "req-1", "alerts[0]", event)
    assert name != executions.execution_name("webhook-grafana", "req-2", "alerts[0]", event)
    assert name != executions.execution_name("webhook-grafana", "req-1", "alerts[1]", event)
