"""Settings come from the function's environment, read once per set of values."""

from __future__ import annotations

import pytest

from tourniquet.settings import get_settings


def test_the_same_environment_reads_its_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "tourniquet-one")

    assert get_settings() is get_settings()


def test_each_environment_gets_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Functions sharing a process (the sandbox) take turns with their environments.
    monkeypatch.setenv("TABLE_NAME", "tourniquet-one")
    one = get_settings()
    monkeypatch.setenv("TABLE_NAME", "tourniquet-two")
    two = get_settings()
    monkeypatch.setenv("TABLE_NAME", "tourniquet-one")

    assert (one.table_name, two.table_name) == ("tourniquet-one", "tourniquet-two")
    assert get_settings() is one
