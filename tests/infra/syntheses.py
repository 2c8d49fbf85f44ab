"""Every synthesis the infrastructure tests read, by name: the default configuration (cdk.json), two small
variants and the variant with the pipeline, each with cdk-nag's AwsSolutions checks attached, and the default
configuration's stacks added straight to an app (as it was before it had a pipeline). Each is made once per
test run, whatever the number of workers (:mod:`tests.infra.synth_cache`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment
from cdk_nag import AwsSolutionsChecks

from stacks.config import load_config, project_context
from stacks.member import MemberStack
from stacks.names import MEMBER_STACK_NAME, STACK_NAME
from stacks.synth import BUNDLING_STACKS_KEY, VERSION_REPORTING_KEY, Synthesis, synthesize
from stacks.tourniquet_stack import TourniquetStack
from tests.infra.configs import MINIMAL, PIPELINE, VARIANT
from tests.infra.synth_cache import cached_synthesis

STACKS_ALONE = "stacks-alone"
# Each checked configuration's overrides of cdk.json.
CONFIGURATIONS: Mapping[str, Mapping[str, Any] | None] = {
    "default": None,
    "variant": VARIANT,
    "minimal": MINIMAL,
    "pipeline": PIPELINE,
}
NAMES = (*CONFIGURATIONS, STACKS_ALONE)


def synthesis(name: str) -> Synthesis:
    if name == STACKS_ALONE:
        # Cached by everything a synthesis reads, and by this file, which builds the stacks.
        return cached_synthesis(name, {"built by": Path(__file__).read_text()}, _stacks_alone)
    overrides = CONFIGURATIONS[name]
    return cached_synthesis(name, overrides, lambda: synthesize(overrides, plugins=[AwsSolutionsChecks]))


def _stacks_alone() -> Synthesis:
    context = project_context()
    config = load_config(context)
    assert not (config.forwarded_regions or config.stackset_ous or config.pipeline), "cdk.json grew stacks"
    context[BUNDLING_STACKS_KEY] = []
    context[VERSION_REPORTING_KEY] = False
    env = Environment(region=config.home_region) if config.home_region else None
    with tempfile.TemporaryDirectory() as outdir:
        app = App(context=context, outdir=outdir)
        hub = TourniquetStack(app, STACK_NAME, config=config, env=env)
        member = MemberStack(app, MEMBER_STACK_NAME, config=config, env=env)
        member.add_stack_dependency(hub)
        app.synth()
        templates = {
            stack.stack_name: json.loads((Path(outdir) / stack.template_file).read_text())
            for stack in (hub, member)
        }
    return Synthesis(
        template=templates[STACK_NAME],
        templates=templates,
        dependencies={STACK_NAME: frozenset(), MEMBER_STACK_NAME: frozenset({STACK_NAME})},
        acknowledgments={},
        validation_report=None,
    )
