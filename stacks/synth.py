"""Build the app from the ``cdk.json`` context: for ``app.py``, and in process for tests and the sandbox.

The app holds the hub (``Tourniquet``, in the home region), the member stack for the account the app is
deployed to (``TourniquetMember``), a forwarder per other configured region, and, when the config names
organizational units for it, the StackSet that deploys the member stack to them. With a pipeline configured,
the app holds the pipeline (``TourniquetPipeline``), and the same stacks are in the pipeline's stages.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, IPolicyValidationPlugin, Stack, Stage, Validations

from stacks.config import (
    CONFIG_FILE_KEY,
    CONTEXT_KEY,
    ConfigError,
    TourniquetConfig,
    load_config,
    project_context,
)
from stacks.deployment import add_forwarder_stack, add_hub_stacks, add_stackset_stack
from stacks.forwarder import ForwarderStack
from stacks.member import MemberStack
from stacks.names import MEMBER_STACK_NAME, PIPELINE_STACK_NAME
from stacks.stackset import MemberStackSetStack
from stacks.tourniquet_stack import TourniquetStack

# An empty list means "bundle no stack's assets": in-process synthesis never installs dependencies.
BUNDLING_STACKS_KEY = "aws:cdk:bundling-stacks"
VERSION_REPORTING_KEY = "aws:cdk:version-reporting"
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"
VALIDATION_REPORT = "validation-report.json"

PluginFactory = Callable[[App], IPolicyValidationPlugin]


@dataclass(frozen=True)
class Synthesis:
    """What one in-process synthesis produced."""

    # The hub's template (what the sandbox deploys).
    template: dict[str, Any]
    # Every stack's template, by stack name.
    templates: dict[str, dict[str, Any]]
    # Stack name → the stacks it is deployed after (``cdk deploy --all`` follows these).
    dependencies: dict[str, frozenset[str]]
    # Construct path → {rule or finding id: reason}, as acknowledged in any stack.
    acknowledgments: dict[str, dict[str, str]]
    # The policy validation report (findings, and the acknowledgments that suppressed them); None without
    # plugins.
    validation_report: dict[str, Any] | None

    @property
    def member_template(self) -> dict[str, Any]:
        """The member stack's template: the roles the hub assumes in each account in scope."""
        return self.templates[MEMBER_STACK_NAME]


@dataclass(frozen=True)
class AppStacks:
    """The stacks of the app."""

    hub: TourniquetStack
    member: MemberStack
    # One per region besides the home region.
    forwarders: tuple[ForwarderStack, ...] = ()
    # Only when the config names organizational units for it.
    stackset: MemberStackSetStack | None = None
    # Only with a pipeline: its own stacks (the stacks above are then in its stages).
    delivery: tuple[Stack, ...] = ()

    @property
    def all(self) -> tuple[Stack, ...]:
        optional = (self.stackset,) if self.stackset else ()
        return (self.hub, self.member, *self.forwarders, *optional, *self.delivery)


def app_config(app: App) -> TourniquetConfig:
    """The config from ``app``'s context. Raises ConfigError on an invalid config."""
    context = {
        key: value
        for key in (CONTEXT_KEY, CONFIG_FILE_KEY)
        if (value := app.node.try_get_context(key)) is not None
    }
    return load_config(context)


def build_app(app: App) -> AppStacks:
    """Add every stack to ``app``, configured from its context. Raises ConfigError on an invalid config."""
    config = app_config(app)
    if config.pipeline is not None:
        return _build_pipeline(app, config)
    hub = add_hub_stacks(app, config)
    forwarders = tuple(add_forwarder_stack(app, config, region) for region in config.forwarded_regions)
    for forwarder in forwarders:
        forwarder.add_stack_dependency(hub.hub)
    stackset = None
    if config.stackset_ous:
        stackset = add_stackset_stack(app, config, context=app.node.get_all_context())
        # Like the member stack's, the instances' trust policies name the hub's roles.
        stackset.add_stack_dependency(hub.hub)
    return AppStacks(hub=hub.hub, member=hub.member, forwarders=forwarders, stackset=stackset)


def _build_pipeline(app: App, config: TourniquetConfig) -> AppStacks:
    """The pipeline, and the stacks in its stages; the order of the stages stands for the dependencies."""
    # CDK Pipelines and the services it builds on are imported only for a pipeline: a synthesis without one
    # does not pay for them.
    from stacks.pipeline import (  # noqa: PLC0415
        HUB_STAGE,
        MEMBERS_STAGE,
        ForwarderStage,
        HubStage,
        MembersStage,
        PipelineStack,
        forwarder_stage_name,
        repository_path,
    )

    assert config.pipeline is not None
    config_file = repository_path(app.node.try_get_context(CONFIG_FILE_KEY))
    hub = HubStage(app, HUB_STAGE, config=config)
    forwarders = tuple(
        ForwarderStage(app, forwarder_stage_name(region), config=config, region=region)
        for region in config.forwarded_regions
    )
    members = None
    if config.stackset_ous:
        # The config requires the StackSet stack's account with a pipeline and stackset_ous.
        assert config.pipeline.stackset_account_id is not None
        members = MembersStage(
            app,
            MEMBERS_STAGE,
            config=config,
            context=app.node.get_all_context(),
            account=config.pipeline.stackset_account_id,
        )
    pipeline = PipelineStack(
        app,
        PIPELINE_STACK_NAME,
        config=config,
        config_file=config_file,
        hub=hub,
        forwarders=forwarders,
        members=members,
    )
    return AppStacks(
        hub=hub.stacks.hub,
        member=hub.stacks.member,
        forwarders=tuple(stage.stack for stage in forwarders),
        stackset=members.stackset if members else None,
        delivery=pipeline.stacks,
    )


def merged_context(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; the ``tourniquet`` object is merged key by key."""
    merged = {**base, **overrides}
    if isinstance(overrides.get(CONTEXT_KEY), Mapping):
        merged[CONTEXT_KEY] = {**base.get(CONTEXT_KEY, {}), **overrides[CONTEXT_KEY]}
    return merged


def synthesize_template(context_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The hub's CloudFormation template, synthesized in process from cdk.json plus ``context_overrides``.

    Asset bundling is disabled and nothing outside a temporary directory is written.
    """
    return synthesize(context_overrides).template


def synthesize_templates(context_overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every stack's CloudFormation template, by stack name, synthesized in process like
    :func:`synthesize_template` (what the sandbox deploys)."""
    return synthesize(context_overrides).templates


def synthesize_member_template(context_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The member stack's CloudFormation template (the roles the hub assumes in each account), synthesized in
    process like :func:`synthesize_template`."""
    return synthesize(context_overrides).member_template


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
        stacks = build_app(app)
        for plugin in plugins:
            Validations.of(app).add_plugins(plugin(app))
        out = Path(outdir)
        report = synth_with_report(app, out, validating=bool(plugins))
        templates: dict[str, dict[str, Any]] = {}
        acknowledgments: dict[str, dict[str, str]] = {}
        for stack in stacks.all:
            # A stack in a pipeline's stage is in the stage's own assembly, a directory of the app's.
            assembly = Path(Stage.of(stack).outdir)  # type: ignore[union-attr]
            templates[stack.stack_name] = json.loads((assembly / stack.template_file).read_text())
            metadata = json.loads((assembly / f"{stack.artifact_id}.metadata.json").read_text())
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] == ACKNOWLEDGED_RULES:
                        acknowledgments.setdefault(path, {}).update(entry["data"])
    return Synthesis(
        template=templates[stacks.hub.stack_name],
        templates=templates,
        dependencies={
            stack.stack_name: frozenset(dependency.stack_name for dependency in stack.dependencies)
            for stack in stacks.all
        },
        acknowledgments=acknowledgments,
        validation_report=report,
    )


def synth_with_report(app: App, out: Path, *, validating: bool) -> dict[str, Any] | None:
    """Synthesize ``app`` into its output directory ``out``; with validation plugins, their report.

    A failed validation still writes the assembly and the report, and does not raise here; any other error
    raises. The report's presence tells the two apart: the error's wording differs between CDK releases
    and with the findings' severity.
    """
    try:
        app.synth()
    except RuntimeError:
        if not (validating and (out / VALIDATION_REPORT).is_file()):
            raise
    report: dict[str, Any] | None = json.loads((out / VALIDATION_REPORT).read_text()) if validating else None
    return report


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
        build_app(app)
    except ConfigError as exc:
        sys.exit(f"tourniquet: {exc}")
    app.synth()
