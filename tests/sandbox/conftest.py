"""A sandbox deployed from the small test template, shared by the sandbox test modules of a process."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.helpers import SandboxPool
from tests.sandbox.template import template


@pytest.fixture(scope="module")
def sandbox(sandbox_pool: SandboxPool) -> Sandbox:
    return sandbox_pool.get("test-template", lambda: Sandbox(template=template()))


@pytest.fixture
def lambda_client(sandbox: Sandbox) -> Any:
    return sandbox.client("lambda")
