"""Canary: moto runs Lambda code only in Docker, so the sandbox's invoke hook must keep working."""

from __future__ import annotations

import inspect
import io
import json
import os
import zipfile

from moto.awslambda.models import LambdaFunction

ECHO = "tests.sandbox.handlers.echo"
FAILS = "tests.sandbox.handlers.contain_fails"


def invoke(client, name, payload):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response, json.loads(response["Payload"].read())


def test_moto_still_invokes_functions_through_the_method_the_hook_replaces():
    assert "self._invoke_lambda(event=body)" in inspect.getsource(LambdaFunction.invoke)


def test_a_handler_exception_is_a_function_error_named_for_its_class(sandbox, lambda_client):
    response, body = invoke(lambda_client, sandbox.deployment.function_name(FAILS), {"target": "i-0abc"})

    assert response["FunctionError"]
    assert body["errorType"] == "ContainmentFailed"
    assert body["errorMessage"] == "cannot isolate i-0abc"


def test_a_successful_invoke_returns_the_handler_value_computed_in_the_function_environment(
    sandbox, lambda_client
):
    before = dict(os.environ)
    name = sandbox.deployment.function_name(ECHO)

    response, body = invoke(lambda_client, name, {"a": 1})

    assert "FunctionError" not in response
    assert body["input"] == {"a": 1}
    assert body["function_name"] == name
    assert body["marker"] == "Tourniquet:eu-west-1:Tourniquet-EscalationTopic5E6F7A8B"
    assert body["endpoint"] == sandbox.endpoint_url
    assert 0 < body["remaining_ms"] <= 30_000
    assert dict(os.environ) == before


def test_handlers_run_on_one_long_lived_thread_like_a_warm_container(sandbox, lambda_client):
    name = sandbox.deployment.function_name(ECHO)

    threads = {invoke(lambda_client, name, {})[1]["thread"] for _ in range(3)}

    assert len(threads) == 1
    assert threads.pop().startswith("lambda-runtime")


def test_a_handler_that_cannot_be_imported_fails_like_the_lambda_runtime(sandbox, lambda_client):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("README.txt", "unused")
    role = sandbox.client("iam").create_role(RoleName="missing-handler", AssumeRolePolicyDocument="{}")[
        "Role"
    ]
    lambda_client.create_function(
        FunctionName="missing-handler",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="tests.sandbox.no_such_module.handler",
        Code={"ZipFile": archive.getvalue()},
    )

    response, body = invoke(lambda_client, "missing-handler", {})

    assert response["FunctionError"]
    assert body["errorType"] == "Runtime.ImportModuleError"


def test_a_function_runs_with_a_session_of_its_own_execution_role(sandbox, lambda_client):
    before = os.environ["AWS_ACCESS_KEY_ID"]
    role = sandbox.client("iam").create_role(
        RoleName="whoami-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("README.txt", "unused")
    lambda_client.create_function(
        FunctionName="whoami",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="tests.sandbox.handlers.whoami",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": {"AWS_ENDPOINT_URL": sandbox.endpoint_url}},
    )

    identities = {invoke(lambda_client, "whoami", {})[1]["arn"] for _ in range(2)}

    assert identities == {"arn:aws:sts::123456789012:assumed-role/whoami-role/whoami"}
    assert os.environ["AWS_ACCESS_KEY_ID"] == before
