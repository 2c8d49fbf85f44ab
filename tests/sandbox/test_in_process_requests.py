"""The sandbox process's own clients are answered by moto's application in the calling thread, with the same
dispatch as its server; other processes (the CLI, a browser) still reach the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.httpsession import URLLib3Session

from sandbox.core import Sandbox

ECHO = "tests.sandbox.handlers.echo"


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def send(self: URLLib3Session, request: object) -> None:
        raise AssertionError(f"sent over HTTP: {getattr(request, 'url', request)}")

    monkeypatch.setattr(URLLib3Session, "send", send)


def test_the_processs_own_clients_reach_the_embedded_aws_without_a_socket(sandbox: Sandbox, no_sockets):
    name = sandbox.deployment.function_name(ECHO)
    function_arn = sandbox.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    # A JSON protocol, a REST path that carries an ARN, and a query protocol's form body.
    lambda_client = sandbox.account_client("lambda", sandbox.hub_account, "us-east-1")

    answer = sandbox.client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps({"a": 1}).encode())

    assert json.loads(answer["Payload"].read())["input"] == {"a": 1}
    assert lambda_client.list_functions()["Functions"] == []
    identity = sandbox.client("sts").get_caller_identity()
    assert identity["Account"] == sandbox.hub_account
    instances = sandbox.client("ec2").describe_instances(Filters=[{"Name": "tag:x", "Values": ["a b/c"]}])
    assert instances["Reservations"] == []


def test_an_error_answered_in_process_is_the_services_own(sandbox: Sandbox, no_sockets):
    with pytest.raises(sandbox.client("lambda").exceptions.ResourceNotFoundException):
        sandbox.client("lambda").get_function(FunctionName="no-such-function")


def test_another_process_still_reaches_the_server(sandbox: Sandbox):
    script = (
        "import boto3, sys; "
        "print(boto3.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()['Account'])"
    )
    environment = {**os.environ, "AWS_ENDPOINT_URL": sandbox.endpoint_url}

    done = subprocess.run(
        [sys.executable, "-c", script, sandbox.endpoint_url],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )

    assert done.stdout.strip() == sandbox.hub_account
