"""The StackSet stack: deploys the member stack to every account of the configured organizational units.

Service-managed (AWS Organizations): an account that joins one of the OUs gets the member stack, and one that
leaves loses it. StackSets never deploy to the organization's management account, and this StackSet leaves out
the hub's account, which deploys ``TourniquetMember`` itself with ``cdk deploy`` (the role names are fixed, so
a second copy there would fail). The member template is inlined: it holds no asset and needs no bootstrap
resource in the member accounts.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_cloudformation as cloudformation
from constructs import Construct

from stacks.config import TourniquetConfig
from stacks.member import MemberStack
from stacks.names import MEMBER_STACK_NAME, STACKSET_NAME

# CloudFormation's limit on an inline TemplateBody; a larger member template would need an S3 URL (an asset).
TEMPLATE_BODY_LIMIT = 51_200

# An operation (an update of the member template) goes to a quarter of the accounts at a time and stops once a
# tenth of them failed; a failure does not slow the others down (SOFT). These do not apply to automatic
# deployment to an account that joins an OU.
OPERATION_PREFERENCES = cloudformation.CfnStackSet.OperationPreferencesProperty(
    concurrency_mode="SOFT_FAILURE_TOLERANCE",
    failure_tolerance_percentage=10,
    max_concurrent_percentage=25,
    region_concurrency_type="PARALLEL",
)


def member_template_body(
    context: Mapping[str, Any], *, config: TourniquetConfig, env: Environment | None
) -> str:
    """The member stack's template as JSON text: the same stack as the app's ``TourniquetMember``, synthesized
    in an app of its own with the same context, so that it exists before the StackSet stack's template.

    Raises ValueError if the template has assets or is too large to inline.
    """
    with tempfile.TemporaryDirectory(prefix="tourniquet-member-") as outdir:
        # No synthesis at exit (the CLI's CDK_OUTDIR turns it on): the directory is gone by then.
        app = App(context=dict(context), outdir=outdir, auto_synth=False)
        stack = MemberStack(app, MEMBER_STACK_NAME, config=config, env=env)
        app.synth()
        out = Path(outdir)
        template_file = f"{stack.artifact_id}.template.json"
        manifest = json.loads((out / f"{stack.artifact_id}.assets.json").read_text())
        # The synthesizer lists the template itself as a file asset; anything else would need a bootstrap
        # bucket or registry in every member account.
        files = [entry["source"].get("path") for entry in manifest.get("files", {}).values()]
        assets = files + list(manifest.get("dockerImages", {}))
        if assets != [template_file]:
            raise ValueError(f"the member stack must have no assets, found: {assets}")
        body = json.dumps(json.loads((out / template_file).read_text()), separators=(",", ":"))
    size = len(body.encode())
    if size > TEMPLATE_BODY_LIMIT:
        raise ValueError(
            f"the member template has {size} bytes; a StackSet takes {TEMPLATE_BODY_LIMIT} inline"
        )
    return body


class MemberStackSetStack(Stack):
    """The service-managed StackSet of the member stack, for the configured organizational units."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TourniquetConfig,
        template_body: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Tourniquet member StackSet: the roles the hub assumes, in every account of the OUs",
            **kwargs,
        )
        # The config requires the hub's account with stackset_ous.
        assert config.hub_account_id is not None
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "MemberStackSet",
            stack_set_name=STACKSET_NAME,
            description="Tourniquet member: the roles the hub assumes to act in this account",
            permission_model="SERVICE_MANAGED",
            call_as=config.stackset_call_as,
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            # Operations wait for one another instead of failing while automatic deployment runs.
            managed_execution={"Active": True},
            capabilities=["CAPABILITY_NAMED_IAM"],
            operation_preferences=OPERATION_PREFERENCES,
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(config.stackset_ous),
                        account_filter_type="DIFFERENCE",
                        accounts=[config.hub_account_id],
                    ),
                    # IAM is global: one stack instance per account creates its roles for every region. The
                    # home region is where the hub's stacks are, so the whole deployment lives there.
                    regions=[self.region],
                )
            ],
            template_body=template_body,
        )
