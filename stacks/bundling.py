"""The function asset: the ``tourniquet`` package plus its vendored dependencies, built without Docker.

Dependencies are installed as manylinux x86_64 wheels for Python 3.12, whatever the building machine runs,
so the asset matches the Lambda runtime. ``uv`` is preferred and ``pip`` is the fallback; Docker (the
runtime's build image) is used only when neither is available.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, DockerVolume, FileSystem, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.config import PROJECT_ROOT

LAMBDAS_DIR = PROJECT_ROOT / "lambdas"
PACKAGE = "tourniquet"
REQUIREMENTS = "requirements.txt"
RUNTIME = lambda_.Runtime.PYTHON_3_12
PYTHON_VERSION = "3.12"

_IGNORED = ("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")
# Where a deployment's own playbooks go in the asset (the functions' PLAYBOOKS_FILE, relative to its root).
DEPLOYED_PLAYBOOKS = "deployment-playbooks.toml"
_CONTAINER_PLAYBOOKS = "/deployment-playbooks.toml"


class BundlingFailed(RuntimeError):
    """Installing the function's dependencies failed; the synth stops rather than ship an incomplete asset."""


def install_command(output_dir: Path, requirements: Path) -> list[str] | None:
    """The command that vendors ``requirements`` into ``output_dir``; None when no installer is available."""
    uv = shutil.which("uv")
    if uv is not None:
        return [
            uv, "pip", "install",
            # Wheels are chosen by the tags below; no Python 3.12 interpreter is needed or fetched.
            "--no-python-downloads",
            "--target", str(output_dir),
            "--python-platform", "x86_64-manylinux2014",
            "--python-version", PYTHON_VERSION,
            "--only-binary", ":all:",
            "-r", str(requirements),
        ]  # fmt: skip
    if importlib.util.find_spec("pip") is not None:
        return [
            sys.executable, "-m", "pip", "install",
            "--target", str(output_dir),
            "--platform", "manylinux2014_x86_64",
            "--implementation", "cp",
            "--python-version", PYTHON_VERSION,
            "--only-binary=:all:",
            "--no-compile",
            "--disable-pip-version-check",
            "-r", str(requirements),
        ]  # fmt: skip
    return None


@jsii.implements(ILocalBundling)
class LocalBundling:
    """Copies the runtime package and installs its wheels into the asset directory on the building machine."""

    def __init__(self, source: Path = LAMBDAS_DIR, playbooks: Path | None = None) -> None:
        self._source = source
        self._playbooks = playbooks

    def try_bundle(self, output_dir: str, *, image: DockerImage, **options: Any) -> bool:
        """Bundle into ``output_dir``; False hands over to Docker when no installer is available.

        jsii passes the bundling options as keywords; the local build needs none of them.
        """
        out = Path(output_dir)
        command = install_command(out, self._source / REQUIREMENTS)
        if command is None:
            return False
        shutil.copytree(
            self._source / PACKAGE,
            out / PACKAGE,
            ignore=shutil.ignore_patterns(*_IGNORED),
            dirs_exist_ok=True,
        )
        if self._playbooks is not None:
            shutil.copyfile(self._playbooks, out / DEPLOYED_PLAYBOOKS)
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BundlingFailed(f"installing {REQUIREMENTS} failed ({command[0]}): {detail[0]}")
        # uv leaves its install lock behind; it is no part of the function.
        (out / ".lock").unlink(missing_ok=True)
        return True


def function_code(playbooks: Path | None = None) -> lambda_.Code:
    """One asset for every function; each picks its entry point with a dotted handler string.

    ``playbooks`` (the deployment's own file) is copied into the asset as ``DEPLOYED_PLAYBOOKS``; the asset's
    hash then covers it too, so a change to the playbooks alone deploys new code.
    """
    copy, volumes, asset_hash = "", None, None
    if playbooks is not None:
        # The file alone, under a fixed name: its directory stays outside the container, and its own name
        # (from the deployment's config) never reaches the shell.
        copy = f" && cp {_CONTAINER_PLAYBOOKS} /asset-output/{DEPLOYED_PLAYBOOKS}"
        volumes = [DockerVolume(host_path=str(playbooks.resolve()), container_path=_CONTAINER_PLAYBOOKS)]
        digest = hashlib.sha256(playbooks.read_bytes())
        excluded = [f"**/{pattern}" for pattern in _IGNORED]
        digest.update(FileSystem.fingerprint(str(LAMBDAS_DIR), exclude=excluded).encode())
        asset_hash = digest.hexdigest()
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=[f"**/{pattern}" for pattern in _IGNORED],
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            platform="linux/amd64",
            command=[
                "bash",
                "-c",
                f"cp -R /asset-input/{PACKAGE} /asset-output/ && "
                "pip install --no-cache-dir --only-binary=:all: "
                f"-r /asset-input/{REQUIREMENTS} -t /asset-output" + copy,
            ],
            volumes=volumes,
            local=LocalBundling(playbooks=playbooks),
        ),
        asset_hash=asset_hash,
        asset_hash_type=AssetHashType.CUSTOM if asset_hash else None,
    )
