#!/usr/bin/env python3
"""The CDK entry point (``cdk synth``, ``cdk deploy``): one stack, configured from the context in cdk.json."""

from stacks.synth import main

if __name__ == "__main__":
    main()
