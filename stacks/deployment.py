"""The stacks of one deployment, added to the app (``cdk deploy``) or to a pipeline's stages.

The hub's account holds the hub, its own member stack and a forwarder per region besides the home region; the
StackSet stack, when the config names OUs for it, goes to the management account or the StackSets delegated
administrator. Both ways of deploying build the same stacks under the same stack names, so CloudFormation
updates the same stacks whichever of them deploys. Each way orders them after the hub its own way: the app by
stack dependencies, the pipeline by the order of its stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Environment
from constructs import Construct

from stacks.config import TourniquetConfig
from stacks.forwarder import ForwarderStack
from stacks.member import MemberStack
from stacks.names import MEMBER_STACK_NAME, STACK_NAME, STACKSET_STACK_NAME, forwarder_stack_name
from stacks.stackset import MemberStackSetStack, member_template_body
from stacks.tourniquet_stack import TourniquetStack


@dataclass(frozen=True)
class HubStacks:
    """The stacks of the hub's account in the home region."""

    hub: TourniquetStack
    member: MemberStack


def home_environment(config: TourniquetConfig, account: str | None = None) -> Environment | None:
    """With regions configured, the home region (and ``account``, if given); otherwise None: wherever the
    CLI deploys (the stacks stay environment-agnostic)."""
    return Environment(account=account, region=config.home_region) if config.home_region else None


def add_hub_stacks(scope: Construct, config: TourniquetConfig) -> HubStacks:
    """Add the hub and the hub account's member stack to ``scope`` (an app or a stage)."""
    home = home_environment(config)
    hub = TourniquetStack(scope, STACK_NAME, stack_name=STACK_NAME, config=config, env=home)
    member = MemberStack(scope, MEMBER_STACK_NAME, stack_name=MEMBER_STACK_NAME, config=config, env=home)
    # The member roles trust the hub's function roles, which must exist first (IAM refuses a trust policy
    # naming a role that does not exist).
    member.add_stack_dependency(hub)
    return HubStacks(hub=hub, member=member)


def add_forwarder_stack(scope: Construct, config: TourniquetConfig, region: str) -> ForwarderStack:
    """Add the forwarder of ``region`` (one of ``config.forwarded_regions``) to ``scope``, for the hub's
    account. It deploys after the hub: forwarded events reach the hub's rules only once those exist.
    """
    return ForwarderStack(
        scope,
        forwarder_stack_name(region),
        stack_name=forwarder_stack_name(region),
        config=config,
        home_region=config.regions[0],
        env=Environment(region=region),
    )


def add_stackset_stack(
    scope: Construct,
    config: TourniquetConfig,
    *,
    context: Mapping[str, Any],
    account: str | None = None,
) -> MemberStackSetStack:
    """Add the StackSet stack (for ``config.stackset_ous``) to ``scope``, in ``account`` if given.

    ``context`` is the app's: the StackSet inlines the member template synthesized from it.
    """
    body = member_template_body(context, config=config, env=home_environment(config))
    return MemberStackSetStack(
        scope,
        STACKSET_STACK_NAME,
        stack_name=STACKSET_STACK_NAME,
        config=config,
        template_body=body,
        env=home_environment(config, account),
    )
