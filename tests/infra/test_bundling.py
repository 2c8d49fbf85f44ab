"""The function asset: pinned dependencies, and local bundling without Docker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from stacks import bundling
from stacks.bundling import (
    DEPLOYED_PLAYBOOKS,
    LAMBDAS_DIR,
    RUNTIME,
    BundlingFailed,
    LocalBundling,
    function_code,
    install_command,
)
from stacks.config import PROJECT_ROOT

VENDORED = ("aws-lambda-powertools", "pydantic", "py-ocsf-models", "slack-sdk")
# The SDK is vendored too: the copy the Lambda runtime bundles differs by region and date.
SDK = ("boto3", "botocore")


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def requirement_lines() -> list[str]:
    text = (LAMBDAS_DIR / "requirements.txt").read_text()
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


def test_every_vendored_requirement_is_pinned_exactly() -> None:
    lines = requirement_lines()
    assert len(pins(lines)) == len(lines)


def test_the_sdk_is_vendored_at_the_locked_version() -> None:
    vendored, locked = pins(requirement_lines()), locked_versions()
    for name in SDK:
        assert vendored[name] == locked[name], name
    # With its closure, which botocore and s3transfer need at import.
    assert {"s3transfer", "urllib3", "python-dateutil", "six", "jmespath"} <= set(vendored)


def test_the_functions_run_the_versions_the_tests_run() -> None:
    vendored, locked = pins(requirement_lines()), locked_versions()
    assert vendored == {name: locked.get(name) for name in vendored}


def test_vendored_pins_match_pyproject() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    declared = pins(project["project"]["dependencies"])
    vendored = pins(requirement_lines())
    for name in VENDORED:
        assert vendored[name] == declared[name], name


@pytest.fixture
def source(tmp_path: Path) -> Path:
    package = tmp_path / "lambdas" / "tourniquet"
    (package / "intake" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "intake" / "handler.py").write_text("def normalize(event, context):\n    return event\n")
    (package / "intake" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"stale")
    (package / "playbooks.toml").write_text("[playbook]\n")
    (tmp_path / "lambdas" / "requirements.txt").write_text("")
    return tmp_path / "lambdas"


needs_installer = pytest.mark.skipif(
    install_command(Path("out"), Path("requirements.txt")) is None, reason="neither uv nor pip is installed"
)


@needs_installer
def test_local_bundling_copies_the_package_without_caches(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "asset"
    out.mkdir()
    assert LocalBundling(source).try_bundle(str(out), image=RUNTIME.bundling_image) is True
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert files == ["tourniquet/__init__.py", "tourniquet/intake/handler.py", "tourniquet/playbooks.toml"]


@needs_installer
def test_a_deployments_playbooks_file_is_copied_where_the_functions_read_it(
    source: Path, tmp_path: Path
) -> None:
    team = tmp_path / "team.toml"
    team.write_text("# the team's playbooks\n")
    out = tmp_path / "asset"
    out.mkdir()

    assert LocalBundling(source, playbooks=team).try_bundle(str(out), image=RUNTIME.bundling_image) is True

    assert (out / DEPLOYED_PLAYBOOKS).read_text() == "# the team's playbooks\n"
    assert (out / "tourniquet" / "playbooks.toml").read_text() == "[playbook]\n"


def test_the_asset_hash_follows_the_playbooks_file(tmp_path: Path) -> None:
    """A change to the playbooks alone must deploy new code: the file is outside the asset's source."""

    def object_key(text: str) -> str:
        team.write_text(text)
        # No bundling here: the hash is computed all the same.
        stack = Stack(App(context={"aws:cdk:bundling-stacks": []}))
        return str(function_code(team).bind(stack).s3_location.object_key)

    team = tmp_path / "team.toml"

    assert object_key("one") != object_key("two")


@needs_installer
def test_a_failed_install_stops_the_synth(source: Path, tmp_path: Path) -> None:
    (source / "requirements.txt").write_text("./no-such-package.whl\n")
    out = tmp_path / "asset"
    out.mkdir()
    with pytest.raises(BundlingFailed, match=r"^installing requirements\.txt failed"):
        LocalBundling(source).try_bundle(str(out), image=RUNTIME.bundling_image)


def test_dependencies_are_chosen_for_the_lambda_platform(tmp_path: Path) -> None:
    command = install_command(tmp_path, tmp_path / "requirements.txt")
    if command is None:
        pytest.skip("neither uv nor pip is installed")
    rendered = " ".join(command)
    assert "--only-binary" in rendered
    assert "3.12" in rendered
    assert "x86_64" in rendered
    assert f"--target {tmp_path}" in rendered


def test_the_container_sees_only_the_playbooks_file_and_never_runs_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's name comes from the deployment's config: in the bundling shell it would run as code."""
    team = tmp_path / "team $(touch pwned); x.toml"
    team.write_text("# the team's playbooks\n")
    (tmp_path / "secret.txt").write_text("not for the container\n")
    used: dict[str, Any] = {}
    monkeypatch.setattr(bundling.lambda_.Code, "from_asset", lambda path, **options: used.update(options))

    bundling.function_code(team)

    options = used["bundling"]
    assert team.name not in " ".join(options.command)
    [volume] = options.volumes
    assert volume.host_path == str(team.resolve())
    assert f"cp {volume.container_path} /asset-output/{DEPLOYED_PLAYBOOKS}" in options.command[-1]
