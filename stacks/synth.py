"""Build the app from the ``cdk.json`` context: for ``app.py``, and in process for tests and the sandbox."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, IPolicyValidationPlugin, Validations

from stacks.config import CONFIG_FILE_KEY, CONTEXT_KEY, ConfigError, load_config, project_context
from stacks.tourniquet_stack import STACK_NAME, TourniquetStack

# An empty list means "bundle no stack's assets": in-process synthesis never installs dependencies.
BUNDLING_STACKS_KEY = "aws:cdk:bundling-stacks"
VERSION_REPORTING_KEY = "aws:cdk:version-reporting"
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"
VALIDATION_REPORT = "validation-report.json"

PluginFactory = Callable[[App], IPolicyValidationPlugin]


@dataclass(frozen=True)
class Synthesis:
    """What one in-process synthesis produced."""

    template: dict[str, Any]
    # Construct path → {rule or finding id: reason}, as acknowledged in the stack.
    acknowledgments: dict[str, dict[str, str]]
    # The policy validation report (findings, and the acknowledgments that suppressed them); None without
    # plugins.
    validation_report: dict[str, Any] | None


def build_stack(app: App) -> TourniquetStack:
    """Add the stack to ``app``, configured from its context. Raises ConfigError on an invalid config."""
    context = {
        key: value
        for key in (CONTEXT_KEY, CONFIG_FILE_KEY)
        if (value := app.node.try_get_context(key)) is not None
    }
    return TourniquetStack(app, STACK_NAME, config=load_config(context))


def merged_context(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; the ``tourniquet`` object is merged key by key."""
    merged = {**base, **overrides}
    if isinstance(overrides.get(CONTEXT_KEY), Mapping):
        merged[CONTEXT_KEY] = {**base.get(CONTEXT_KEY, {}), **overrides[CONTEXT_KEY]}
    return merged


def synthesize_template(context_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack's CloudFormation template, synthesized in process from cdk.json plus ``context_overrides``.

    Asset bundling is disabled and nothing outside a temporary directory is written.
    """
    return synthesize(context_overrides).template


def synthesize(
    context_overrides: Mapping[str, Any] | None = None, *, plugins: Sequence[PluginFactory] = ()
) -> Synthesis:
    """Synthesize in process (no bundling), with the given policy validation plugins (such as cdk-nag).

    Findings that no acknowledgment covers do not raise here: they are in the returned report, for the
    caller to judge. Any other synthesis error raises.
    """
    context = merged_context(project_context(), context_overrides or {})
    context[BUNDLING_STACKS_KEY] = []
    context[VERSION_REPORTING_KEY] = False
    with tempfile.TemporaryDirectory(prefix="tourniquet-synth-") as outdir:
        app = App(context=context, outdir=outdir)
        stack = build_stack(app)
        for plugin in plugins:
            Validations.of(app).add_plugins(plugin(app))
        out = Path(outdir)
        try:
            app.synth()
        except RuntimeError as exc:
            # A failed validation still writes the assembly and the report; anything else is a real error.
            if not (plugins and "Validation failed" in str(exc) and (out / VALIDATION_REPORT).is_file()):
                raise
        template: dict[str, Any] = json.loads((out / f"{stack.artifact_id}.template.json").read_text())
        metadata = json.loads((out / f"{stack.artifact_id}.metadata.json").read_text())
        report = json.loads((out / VALIDATION_REPORT).read_text()) if plugins else None
    acknowledgments: dict[str, dict[str, str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == ACKNOWLEDGED_RULES:
                acknowledgments.setdefault(path, {}).update(entry["data"])
    return Synthesis(template=template, acknowledgments=acknowledgments, validation_report=report)


def render_definition(properties: Mapping[str, Any], resolve: Callable[[Any], str]) -> str:
    """A state machine's definition as CloudFormation deploys it.

    ``properties`` are the ``AWS::StepFunctions::StateMachine`` properties: ``DefinitionString`` (a string
    or an ``Fn::Join``) with ``DefinitionSubstitutions`` applied. ``resolve`` gives the value of an intrinsic
    such as ``{"Fn::GetAtt": [...]}`` or ``{"Ref": ...}``. Deployers that ignore ``DefinitionSubstitutions``
    (moto's CloudFormation does) can create the state machine from this string.
    """

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(text(part) for part in parts)
        return resolve(value)

    definition = text(properties["DefinitionString"])
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace(f"${{{key}}}", text(value))
    return definition


def main() -> None:
    """``app.py``: synthesize for the CDK CLI. An invalid configuration ends the synth with one line."""
    app = App()
    try:
        build_stack(app)
    except ConfigError as exc:
        sys.exit(f"tourniquet: {exc}")
    app.synth()
