"""Start the incident-response workflow once per alert.

Execution names are derived from the delivery, so a retried start (a redelivered SNS message, a client
retrying a StartExecution after a timeout) finds the execution it already started instead of opening a second.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws
from tourniquet.errors import Throttled

MAX_PARALLEL_STARTS = 8
MAX_INPUT_BYTES = 256 * 1024
"""Step Functions refuses a larger execution input."""
_NAME_PREFIX = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class Started:
    path: str
    execution_arn: str
    already_running: bool


def encoded(event: dict[str, Any]) -> str:
    """The execution input, compact: its UTF-8 size is what counts against :data:`MAX_INPUT_BYTES`."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def fits(event: dict[str, Any]) -> bool:
    return len(encoded(event).encode()) <= MAX_INPUT_BYTES


def execution_name(prefix: str, delivery: str, path: str, event: dict[str, Any]) -> str:
    """A valid execution name (at most 80 of ``[0-9A-Za-z_-]``), the same for the same delivery and alert."""
    basis = json.dumps([delivery, path, event], sort_keys=True, default=str)
    digest = hashlib.sha256(basis.encode()).hexdigest()[:48]
    return f"{_NAME_PREFIX.sub('-', prefix)[:30]}-{digest}"


def start_all(
    state_machine_arn: str, prefix: str, delivery: str, items: list[tuple[str, dict[str, Any]]]
) -> list[Started]:
    """One execution per ``(path, event)``, in parallel; raises if any could not be started."""
    client = aws.client("stepfunctions")

    def start(item: tuple[str, dict[str, Any]]) -> Started:
        path, event = item
        name = execution_name(prefix, delivery, path, event)
        try:
            response = client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=encoded(event)
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ExecutionAlreadyExists":
                return Started(path, _execution_arn(state_machine_arn, name), already_running=True)
            if aws.is_throttling(exc):
                raise Throttled(f"StartExecution kept being throttled: {aws.error_code(exc)}") from exc
            raise
        return Started(path, str(response["executionArn"]), already_running=False)

    if len(items) <= 1:
        return [start(item) for item in items]
    # boto3 clients are safe to share across threads once made.
    with ThreadPoolExecutor(max_workers=min(len(items), MAX_PARALLEL_STARTS)) as pool:
        return list(pool.map(start, items))


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
