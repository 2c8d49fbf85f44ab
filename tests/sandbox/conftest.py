"""A sandbox deployed from the small test template, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.sandbox.template import template


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(template=template()) as running:
        yield running


@pytest.fixture
def lambda_client(sandbox: Sandbox) -> Any:
    return sandbox.client("lambda")
