"""The one place boto3 clients are made: lazily, per thread, honouring the sandbox endpoint override."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from tourniquet.settings import get_settings

# Standard retry mode backs off on throttling before a Step Functions Retry ever sees it.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
_local = threading.local()


def client(service: str) -> Any:
    """A boto3 client for ``service``; clients are not thread-safe to create, so each thread keeps its own."""
    endpoint = get_settings().aws_endpoint_url
    cache: dict[tuple[str, str | None], Any] = _local.__dict__.setdefault("clients", {})
    key = (service, endpoint)
    if key not in cache:
        # The service name is only known at run time, which the typed overloads cannot express.
        cache[key] = boto3.session.Session().client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint, config=_CONFIG
        )
    return cache[key]


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
    }
)


def is_throttling(exc: Exception) -> bool:
    return error_code(exc) in _THROTTLING_CODES


def resource(service: str) -> Any:
    """A boto3 resource (used for DynamoDB's item API), made the same way as :func:`client`."""
    endpoint = get_settings().aws_endpoint_url
    cache: dict[tuple[str, str | None], Any] = _local.__dict__.setdefault("resources", {})
    key = (service, endpoint)
    if key not in cache:
        cache[key] = boto3.session.Session().resource(  # type: ignore[call-overload]
            service, endpoint_url=endpoint, config=_CONFIG
        )
    return cache[key]
