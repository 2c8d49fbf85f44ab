"""Slack and the channels lie below approval and notify: approval never imports notify, the channels (Slack's
among them) import neither, and the Slack client imports none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lambdas" / "tourniquet"


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("approval", ("tourniquet.notify",)),
        ("slack", ("tourniquet.notify", "tourniquet.approval", "tourniquet.channels")),
        ("channels", ("tourniquet.notify", "tourniquet.approval")),
    ],
)
def test_package_does_not_import_the_layers_above_it(package: str, forbidden: tuple[str, ...]) -> None:
    imported = _imports(package)
    assert imported, f"{package} imports nothing: the scan is broken"
    assert not {name for name in imported if name.startswith(forbidden)}
