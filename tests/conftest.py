"""Set up before any test module imports moto, and share sandboxes between test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Importing the sandbox package points MOTO_AMIS_PATH at its small image list, which moto reads at import.
import sandbox  # noqa: F401
from tests.helpers import SandboxPool

# The scope the deployed functions get from the stack: the tests' account and regions, acted in through a
# member role (moto answers AssumeRole for any role, in the role's own account).
for _name, _value in {
    "SCOPE_ACCOUNTS": "123456789012",
    "SCOPE_REGIONS": "eu-west-1,us-east-1",
    "MEMBER_ROLE_NAME": "TourniquetMember",
    "EXTERNAL_ID": "tourniquet-tests",
}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[SandboxPool]:
    pool = SandboxPool()
    yield pool
    pool.stop()


@pytest.fixture
def no_sandbox(sandbox_pool: SandboxPool) -> None:
    """For tests that start and stop sandboxes of their own."""
    sandbox_pool.stop()


# The slowest directories first: the workers share out the modules in collection order, so the long workflow
# scenarios start at once and the short modules fill in at the end, instead of one worker finishing alone.
_FIRST = ("workflow", "infra", "sandbox", "handlers", "unit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.path.relative_to(item.config.rootpath).parts
        directory = parts[1] if len(parts) > 2 else ""
        return _FIRST.index(directory) if directory in _FIRST else len(_FIRST)

    items.sort(key=rank)
