"""Infrastructure tests read templates synthesized in process, once per test run
(:mod:`tests.infra.syntheses`). Each synthesis holds every stack of the app: ``template`` fixtures are the
hub's, ``member_template`` fixtures the member stack's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.synth import Synthesis
from stacks.workflows import ASL_PATH
from tests.infra import syntheses
from tests.infra.cfn import Template


@pytest.fixture(scope="session")
def synthesis() -> Synthesis:
    """The stack as configured by cdk.json."""
    return syntheses.synthesis("default")


@pytest.fixture(scope="session")
def variant_synthesis() -> Synthesis:
    """The stack as configured by :data:`VARIANT`."""
    return syntheses.synthesis("variant")


@pytest.fixture(scope="session")
def minimal_synthesis() -> Synthesis:
    """The stack as configured by :data:`MINIMAL`."""
    return syntheses.synthesis("minimal")


@pytest.fixture(scope="session")
def pipeline_synthesis() -> Synthesis:
    """The stacks as configured by :data:`PIPELINE`: the pipeline, and the variant's stacks in its stages."""
    return syntheses.synthesis("pipeline")


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
