"""Workflow scenarios: the real ASL, deployed from what app.py synthesizes, in one sandbox that the
workflow modules of a test process share (each scenario uses its own look-alike resources)."""

from __future__ import annotations

import pytest

from sandbox.core import Sandbox
from tests.helpers import SandboxPool
from tests.workflow.runner import Runner


@pytest.fixture(scope="module")
def sandbox(sandbox_pool: SandboxPool) -> Sandbox:
    return sandbox_pool.get("deployed", Sandbox)


@pytest.fixture
def runner(sandbox: Sandbox) -> Runner:
    return Runner(sandbox)
