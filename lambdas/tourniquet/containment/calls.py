"""Runs planned calls: the same dict a dry run lists is what is sent to AWS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore import xform_name

from tourniquet import aws
from tourniquet.containment.model import Call


def request_id(response: Mapping[str, Any]) -> str:
    return str(response.get("ResponseMetadata", {}).get("RequestId", ""))


def execute(call: Call, client: Any = None) -> tuple[str, dict[str, Any]]:
    """Run one planned call exactly as listed; returns its request id and response.

    ``client`` lets worker threads share the caller's client (calls on a client are thread-safe).
    """
    service = client or aws.client(call.get("service", "ec2"))
    response: dict[str, Any] = getattr(service, xform_name(call["operation"]))(**call["params"])
    return request_id(response), response
