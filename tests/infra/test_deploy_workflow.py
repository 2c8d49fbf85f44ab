"""The GitHub Actions deploy workflow in docs/: short-lived credentials through OIDC, never a stored key;
tests before any deployment; a person approving each deploy job; the CDK CLI and every action pinned."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from stacks.config import PROJECT_ROOT
from stacks.pipeline import CDK_CLI_VERSION

WORKFLOW = PROJECT_ROOT / "docs" / "github-actions" / "deploy.yml"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
# Anything that would carry a long-lived key: the action's key inputs, the SDK's variables, an access key id.
STATIC_KEYS = re.compile(
    r"aws[-_]access[-_]key[-_]id|aws[-_]secret[-_]access[-_]key|aws[-_]session[-_]token|\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def deploy_jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs that get AWS credentials."""
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if any(step.get("uses", "").startswith(f"{CREDENTIALS_ACTION}@") for step in job["steps"])
    }


def test_no_static_key_appears_anywhere() -> None:
    text = WORKFLOW.read_text()
    assert not STATIC_KEYS.search(text)
    # Nothing needs a stored secret at all: roles are named by repository variables.
    assert "secrets." not in text


def test_credentials_come_from_oidc_with_a_role_to_assume(workflow: dict[str, Any]) -> None:
    jobs = deploy_jobs(workflow)
    assert set(jobs) == {"hub", "members"}
    # Only the deploy jobs may ask for an OIDC token; the workflow as a whole reads the repository.
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        (credentials,) = [s for s in job["steps"] if s.get("uses", "").startswith(f"{CREDENTIALS_ACTION}@")]
        inputs = credentials["with"]
        assert inputs["role-to-assume"].startswith("${{ vars."), name
        assert set(inputs) == {"role-to-assume", "role-session-name", "aws-region"}, name


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_every_deployment_waits_for_the_tests_and_a_reviewer(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    for name, job in deploy_jobs(workflow).items():
        upstream, seen = _needs(job), set()
        while upstream:
            seen.add(current := upstream.pop())
            upstream.extend(_needs(jobs[current]))
        assert "test" in seen, name
        assert job["environment"] == "production", name
    assert [step["run"] for step in jobs["test"]["steps"] if "run" in step] == ["make test"]


def test_a_broadening_of_permissions_stops_the_deploy_unless_allowed_by_hand(
    workflow: dict[str, Any],
) -> None:
    assert workflow["env"]["REQUIRE_APPROVAL"] == "${{ inputs.allow_broadening && 'never' || 'broadening' }}"
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert trigger["workflow_dispatch"]["inputs"]["allow_broadening"]["default"] is False
    for job in deploy_jobs(workflow).values():
        (deploy,) = [step["run"] for step in job["steps"] if "$CDK deploy" in step.get("run", "")]
        assert '--require-approval "$REQUIRE_APPROVAL"' in deploy


def test_the_cdk_cli_and_every_action_are_pinned(workflow: dict[str, Any]) -> None:
    assert workflow["env"]["CDK"] == f"npx -y aws-cdk@{CDK_CLI_VERSION}"
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
