"""What the commands share: the AWS options, the deployment's config, and how a refusal ends.

Every refusal (a bad option, an unusable file, AWS or the table saying no) is one line on stderr and exit
code 2: nothing was done. Exit code 1 is kept for a run that started and failed (a release that did not
finish). Light on purpose: ``tourniquet --help`` imports this and nothing heavy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

# typer ships click inside itself; its exceptions are not re-exported.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

if TYPE_CHECKING:
    from stacks.config import TourniquetConfig

EXIT_REFUSED = 2
EXIT_FAILED = 1

RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region", help="The AWS region of the deployed stack (default: the profile's or $AWS_REGION)."
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="The AWS profile to use (default: $AWS_PROFILE or the default chain)."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The deployment's config file (JSON or YAML, as `cdk synth -c config=FILE` takes); "
        "default: cdk.json's values.",
    ),
]


def refuse(message: str) -> NoReturn:
    """End the command: one line on stderr, exit code 2."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code=EXIT_REFUSED)


class OneLineErrors(TyperGroup):
    """The command's group: a usage error (a missing argument, a choice not offered) is refused like any
    other, in one line with exit code 2, instead of click's usage block."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        run = (args, prog_name, complete_var)
        if not standalone_mode:
            return super().main(*run, standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
        try:
            code = super().main(*run, standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()  # a group run without a command: its help
            sys.exit(exc.exit_code)
        except ClickException as exc:
            help_hint = (
                f" (see {exc.ctx.command_path} --help)" if isinstance(exc, UsageError) and exc.ctx else ""
            )
            # typer words a refused value as pydantic does; the prefix says nothing to a person.
            message = exc.format_message().replace("Value error, ", "")
            typer.echo(f"error: {' '.join(message.split())}{help_hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else 0)


def use_aws(region: str | None, profile: str | None) -> None:
    """Reach AWS in ``region`` with ``profile``: set before the first client, as the SDK reads them then."""
    if profile:
        os.environ["AWS_PROFILE"] = profile
    if region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region


def deployment_config(config_file: Path | None) -> TourniquetConfig:
    """The deployment's validated config: cdk.json's values, overridden by ``config_file`` as at synth."""
    from stacks.config import CONFIG_FILE_KEY, ConfigError, load_config, project_context  # noqa: PLC0415

    context = project_context()
    if config_file is not None:
        context = {**context, CONFIG_FILE_KEY: str(config_file)}
    try:
        return load_config(context)
    except ConfigError as exc:
        refuse(str(exc))


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        typer.echo(f"tourniquet {version('tourniquet')}")
        raise typer.Exit


VersionOption = Annotated[
    bool,
    typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit."),
]
