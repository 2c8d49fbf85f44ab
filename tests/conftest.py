"""Set up before any test module imports moto, and share sandboxes between test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Importing the sandbox package points MOTO_AMIS_PATH at its small image list, which moto reads at import.
import sandbox  # noqa: F401
from tests.helpers import SandboxPool


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[SandboxPool]:
    pool = SandboxPool()
    yield pool
    pool.stop()


@pytest.fixture
def no_sandbox(sandbox_pool: SandboxPool) -> None:
    """For tests that start and stop sandboxes of their own."""
    sandbox_pool.stop()
