"""The Tourniquet CDK app: configuration, the stack, and in-process synthesis."""

import os

# Node 20 still runs the CDK library; without this, every jsii import prints an end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
