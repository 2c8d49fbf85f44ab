#!/usr/bin/env python3
"""The CDK entry point (``cdk synth``, ``cdk deploy``), configured from the context in cdk.json."""

import sys

from stacks.config import ConfigError, cli_context, load_config, require_deployable

if __name__ == "__main__":
    # Checked before the CDK library loads: a bad key ends the synth in a moment, not after jsii has started.
    try:
        require_deployable(load_config(cli_context()))
    except ConfigError as exc:
        sys.exit(f"tourniquet: {exc}")

    from stacks.synth import main

    main()
