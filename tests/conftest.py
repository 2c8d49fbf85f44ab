"""Set up before any test module imports moto, and share sandboxes between test modules."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

# Importing the sandbox package points MOTO_AMIS_PATH at its small image list, which moto reads at import.
import sandbox  # noqa: F401
from sandbox.patches import Patcher, install_user_agent_cache
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


# The workers are handed whole modules in this order (pyproject.toml: --no-loadscope-reorder). First the
# modules on the deployed workflow's sandbox, then those on the small test template's, then those with none:
# a worker switches sandboxes at most twice, where handing out modules by size had each worker start one
# five or six times (2 to 4 s each). Within each directory the long modules go first, so the workers start
# them early and the short ones fill in at the end, instead of one worker finishing alone.
_FIRST = ("workflow", "sandbox", "infra", "handlers", "unit")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "long: a module that takes many seconds; the workers start it early")
    # A worker holds close to a million objects (moto's and botocore's models, moto's state, the sandbox): at
    # Python's default thresholds the collector walked them in some 6,500 collections, 8 s of each worker's
    # CPU. Objects that die young are freed by their reference counts; the collector is for cycles.
    gc.set_threshold(50_000, 20, 20)
    # The sandbox's cache of botocore's User-Agent parts, for the whole process: the handler tests make
    # thousands of calls to moto without a sandbox.
    install_user_agent_cache(Patcher())


def pytest_collection_finish(session: pytest.Session) -> None:
    # What collection imported lives as long as the process: no collection needs to walk it again.
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[int, bool]:
        parts = item.path.relative_to(item.config.rootpath).parts
        directory = parts[1] if len(parts) > 2 else ""
        order = _FIRST.index(directory) if directory in _FIRST else len(_FIRST)
        return order, item.get_closest_marker("long") is None

    items.sort(key=rank)
