"""Starting and stopping the sandbox leaves the process as it found it."""

from __future__ import annotations

import logging
import os

import pytest
import requests
from moto.awslambda.models import LambdaFunction
from moto.cloudtrail.responses import CloudTrailResponse
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from sandbox.core import Sandbox, playbooks_environment
from sandbox.intrinsics import TemplateError
from stacks.config import PROJECT_ROOT

TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
# These tests start and stop sandboxes of their own.
pytestmark = pytest.mark.usefixtures("no_sandbox")


def test_stop_restores_the_environment_and_removes_every_patch(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    environment = dict(os.environ)
    invoke, clock = LambdaFunction._invoke_lambda, retrier_decl.time
    werkzeug_level = logging.getLogger("werkzeug").level

    with Sandbox(template=TEMPLATE) as running:
        url = running.endpoint_url
        assert os.environ["AWS_ENDPOINT_URL"] == url
        assert "AWS_PROFILE" not in os.environ
        assert LambdaFunction._invoke_lambda is not invoke
        assert running.startup_seconds is not None
        assert running.timings["deploy"] < running.startup_seconds

    assert dict(os.environ) == environment
    assert LambdaFunction._invoke_lambda is invoke
    assert retrier_decl.time is clock
    assert logging.getLogger("werkzeug").level == werkzeug_level
    assert not hasattr(CloudTrailResponse, "lookup_events")
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_a_failed_start_cleans_up_and_allows_the_next_start():
    broken = {
        "Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Ref": "Nowhere"}}}}
    }

    with pytest.raises(TemplateError, match="Nowhere"):
        Sandbox(template=broken).start()

    with Sandbox(template=TEMPLATE) as running:
        assert running.deployment.topic_arn().endswith(":Tourniquet-Topic")


def test_each_start_up_stage_is_told_as_it_ends():
    told: list[tuple[str, float]] = []

    with Sandbox(template=TEMPLATE, on_stage=lambda stage, seconds: told.append((stage, seconds))) as running:
        assert told == list(running.timings.items())
        assert [stage for stage, _ in told][:2] == ["moto", "synth"]


def test_the_functions_read_the_deployments_own_playbooks_from_beside_cdk_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert playbooks_environment({"playbooks": "team.toml"}) == {
        "PLAYBOOKS_FILE": str(PROJECT_ROOT / "team.toml")
    }
    assert playbooks_environment({"playbooks": str(tmp_path / "team.toml")}) == {
        "PLAYBOOKS_FILE": str(tmp_path / "team.toml")
    }
    assert playbooks_environment({}) == {}
