"""Infrastructure tests read templates synthesized in process, once per test run, with cdk-nag's AwsSolutions
checks attached: the default configuration (cdk.json), two small variants and the variant with the pipeline.
Each synthesis holds every stack of the app: ``template`` fixtures are the hub's, ``member_template`` fixtures
the member stack's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from stacks.synth import Synthesis, synthesize
from stacks.workflows import ASL_PATH
from tests.infra.cfn import Template
from tests.infra.configs import MINIMAL, PIPELINE, VARIANT
from tests.infra.synth_cache import cached_synthesis


def _synthesize(name: str, overrides: dict[str, Any] | None) -> Synthesis:
    return cached_synthesis(name, overrides, lambda: synthesize(overrides, plugins=[AwsSolutionsChecks]))


@pytest.fixture(scope="session")
def synthesis() -> Synthesis:
    """The stack as configured by cdk.json."""
    return _synthesize("default", None)


@pytest.fixture(scope="session")
def variant_synthesis() -> Synthesis:
    """The stack as configured by :data:`VARIANT`."""
    return _synthesize("variant", VARIANT)


@pytest.fixture(scope="session")
def minimal_synthesis() -> Synthesis:
    """The stack as configured by :data:`MINIMAL`."""
    return _synthesize("minimal", MINIMAL)


@pytest.fixture(scope="session")
def pipeline_synthesis() -> Synthesis:
    """The stacks as configured by :data:`PIPELINE`: the pipeline, and the variant's stacks in its stages."""
    return _synthesize("pipeline", PIPELINE)


@pytest.fixture(scope="session")
def template(synthesis: Synthesis) -> Template:
    return synthesis.template


@pytest.fixture(scope="session")
def variant_template(variant_synthesis: Synthesis) -> Template:
    return variant_synthesis.template


@pytest.fixture(scope="session")
def minimal_template(minimal_synthesis: Synthesis) -> Template:
    return minimal_synthesis.template


@pytest.fixture(scope="session")
def member_template(synthesis: Synthesis) -> Template:
    return synthesis.member_template


@pytest.fixture(scope="session")
def variant_member_template(variant_synthesis: Synthesis) -> Template:
    return variant_synthesis.member_template


@pytest.fixture(scope="session")
def asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(ASL_PATH.read_text())
    return definition
