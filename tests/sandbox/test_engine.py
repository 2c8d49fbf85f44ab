"""The Step Functions engine in the sandbox: EventBridge delivery, Catch on error names, compressed time."""

from __future__ import annotations

import json
import time

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path

from sandbox.bridge import target_input
from sandbox.core import Sandbox
from sandbox.deploy import BridgeTarget
from tests.sandbox.template import RULE_SOURCE


def ping(severity):
    return {
        "source": RULE_SOURCE,
        "detail-type": "Ping",
        "time": "2026-11-20T09:14:33Z",
        "detail": {"severity": severity},
    }


def test_an_event_matching_the_rule_starts_the_rules_state_machine(sandbox):
    before = len(sandbox.bridge.delivered())  # the sandbox is the module's and the other sandbox tests'

    sandbox.put_event(ping(5))
    sandbox.put_event(ping(8))

    [*_, delivered] = sandbox.bridge.wait_for(before + 1, timeout=10)
    execution = sandbox.wait_for_execution(delivered.execution_arn, timeout=10)

    assert delivered.state_machine_arn == sandbox.deployment.state_machine_arn("EchoMachine3C4D5E6F")
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["detail"] == {"severity": 8}
    assert output["time"] == "2026-11-20T09:14:33Z"
    assert output["echo"]["input"]["detail-type"] == "Ping"
    time.sleep(0.3)
    assert len(sandbox.bridge.delivered()) == before + 1
    assert sandbox.bridge.errors == []


def test_a_lambda_error_type_is_caught_by_its_name(sandbox):
    arn = sandbox.start_execution(
        {"target": "i-0abc"}, state_machine_arn=sandbox.deployment.state_machine_arn("CatchMachine1F2E3D4C")
    )

    execution = sandbox.wait_for_execution(arn, timeout=10)

    assert execution["status"] == "SUCCEEDED"
    error = json.loads(execution["output"])["error"]
    assert error["Error"] == "ContainmentFailed"
    assert json.loads(error["Cause"])["errorMessage"] == "cannot isolate i-0abc"


def test_retry_intervals_are_compressed_without_editing_the_asl(sandbox):
    machine = sandbox.deployment.state_machine_arn("RetryMachine5B6A7C8D")
    definition = json.loads(
        sandbox.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]
    )
    began = time.monotonic()

    # Two failures wait 30 s and then 60 s in real time; the sandbox runs them in milliseconds.
    arn = sandbox.start_execution({"key": "retry-compressed", "fail_times": 2}, state_machine_arn=machine)
    execution = sandbox.wait_for_execution(arn, timeout=10)

    assert definition["States"]["Flaky"]["Retry"][0]["IntervalSeconds"] == 30
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"attempts": 3}
    assert time.monotonic() - began < 5


def test_a_task_token_wait_expires_on_the_sandbox_clock(sandbox):
    sandbox.time_scale = 0.0005
    try:
        began = time.monotonic()
        arn = sandbox.start_execution(
            {"incident_id": "inc-expires", "quiet": False},
            state_machine_arn=sandbox.deployment.state_machine_arn("ApprovalMachine9E8D7C6B"),
        )
        execution = sandbox.wait_for_execution(arn, timeout=15)
        elapsed = time.monotonic() - began
    finally:
        sandbox.time_scale = 1.0

    # TimeoutSeconds is 3600: at 0.0005 it expires after 1.8 s.
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["approval"] == {"decision": "expired"}
    assert output["expired"]["Error"] == "States.Timeout"
    assert 1.5 < elapsed < 10
    assert sandbox.slack.find_card("inc-expires") is not None


def test_only_one_sandbox_runs_in_a_process(sandbox):
    with pytest.raises(RuntimeError, match="another sandbox"):
        Sandbox(template={"Resources": {}}).start()


@pytest.mark.parametrize(
    ("input_path", "constant", "expected"),
    [
        (None, None, {"detail": {"severity": 8}, "source": "s"}),
        ("$.detail", None, {"severity": 8}),
        (None, '{"fixed": true}', {"fixed": True}),
    ],
)
def test_a_target_gets_the_input_eventbridge_would_send(input_path, constant, expected):
    target = BridgeTarget("Rule", "r", "t0", "queue", "machine", input=constant, input_path=input_path)

    assert target_input(target, {"detail": {"severity": 8}, "source": "s"}) == expected


def test_an_input_path_that_does_not_match_is_an_error():
    target = BridgeTarget("Rule", "r", "t0", "queue", "machine", input_path="$.missing")

    with pytest.raises(ValueError, match="does not match"):
        target_input(target, {"detail": {}})


def test_a_definition_is_parsed_once_and_every_execution_evaluates_that_program(sandbox):
    machine = sandbox.deployment.state_machine_arn("RetryMachine5B6A7C8D")
    definition = sandbox.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]

    first_program, first_tree = AmazonStateLanguageParser.parse(definition)
    second_program, second_tree = AmazonStateLanguageParser.parse(definition)

    assert first_tree is second_tree
    assert first_program is second_program
    # Each component's key in an execution's heap is drawn before any execution runs: two executions that
    # start at once cannot draw two and lose a retrier's count.
    [retrier] = first_program.states.states["Flaky"].retry.retriers
    assert retrier._EvalComponent__heap_key is not None  # drawn lazily by moto


def test_executions_that_share_a_program_count_their_own_retries(sandbox):
    machine = sandbox.deployment.state_machine_arn("RetryMachine5B6A7C8D")

    # Two failures each: with a count shared between them, the fourth failure would exhaust MaxAttempts 3.
    arns = [
        sandbox.start_execution({"key": f"shared-program-{n}", "fail_times": 2}, state_machine_arn=machine)
        for n in range(2)
    ]
    executions = [sandbox.wait_for_execution(arn, timeout=10) for arn in arns]

    assert [json.loads(e["output"]) for e in executions] == [{"attempts": 3}, {"attempts": 3}]


def test_a_json_path_is_parsed_once_and_still_finds_what_it_names(sandbox):
    assert json_path.parse("$.incident.id") is json_path.parse("$.incident.id")
    assert json_path.extract_json("$.incident.id", {"incident": {"id": "inc-1"}}) == "inc-1"
    with pytest.raises(json_path.NoSuchJsonPathError):
        json_path.extract_json("$.incident.id", {"incident": {}})
