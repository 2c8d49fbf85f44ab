"""Acknowledging cdk-nag findings: one finding, on one construct, with the reason a reviewer reads."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

PLUGIN = "AwsSolutions"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept one cdk-nag AwsSolutions finding on ``scope`` and its children only, for ``reason``.

    ``finding`` is a rule id (``AwsSolutions-SQS3``) or one finding of it
    (``AwsSolutions-IAM5[Resource::*]``); a rule is never acknowledged for a whole stack.
    """
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PLUGIN}::{finding}", reason=reason))


# Shared by every role with active tracing (the functions and the state machines).
XRAY_REASON = "xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support only Resource '*'."
