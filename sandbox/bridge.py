"""Delivers EventBridge rule matches to their state machines, as EventBridge would.

moto cannot deliver to a Step Functions target, so the sandbox points each such rule target at an SQS queue
(see :mod:`sandbox.deploy`). This bridge reads those queues and starts an execution of the rule's real target
with the matched event as input (after the target's ``Input`` or ``InputPath``, if it has one).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sandbox.deploy import BridgeTarget

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgedEvent:
    """An event the bridge delivered (``execution_arn``) or failed to deliver (``error``)."""

    rule_name: str
    target_id: str
    state_machine_arn: str
    event: dict[str, Any]
    execution_arn: str | None = None
    error: str | None = None


def target_input(target: BridgeTarget, event: Any) -> Any:
    """The execution input EventBridge would send for ``event``."""
    if target.input is not None:
        return json.loads(target.input)
    if target.input_path:
        return _json_path(event, target.input_path)
    return event


def _json_path(document: Any, path: str) -> Any:
    """The simple ``$.a.b`` paths EventBridge accepts as ``InputPath``."""
    if path == "$":
        return document
    if not path.startswith("$."):
        raise ValueError(f"unsupported InputPath {path!r}")
    value = document
    for part in path[2:].split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"InputPath {path!r} does not match the event")
        value = value[part]
    return value


class Bridge:
    """Drains the bridge queues on a thread when told a message landed (:meth:`notify`, which the sandbox
    calls from moto's SQS), and polls them once every ``poll_seconds`` besides; :meth:`wait_for` returns
    deliveries as they happen. Polling alone would have to be fast to deliver fast, and a receive on each
    queue every 50 ms kept a fifth of a core busy in an idle sandbox."""

    def __init__(
        self, targets: Sequence[BridgeTarget], *, sqs: Any, stepfunctions: Any, poll_seconds: float = 1.0
    ):
        self.targets = list(targets)
        self._sqs = sqs
        self._stepfunctions = stepfunctions
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._delivered: list[BridgedEvent] = []
        self._thread: threading.Thread | None = None
        self.failure: Exception | None = None

    def start(self) -> Bridge:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eventbridge-bridge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._thread = None

    def notify(self) -> None:
        """A message landed on one of the bridge queues: drain them now."""
        self._wake.set()

    @property
    def queue_names(self) -> frozenset[str]:
        return frozenset(target.queue_url.rsplit("/", 1)[-1] for target in self.targets)

    def delivered(self) -> list[BridgedEvent]:
        with self._changed:
            return list(self._delivered)

    @property
    def errors(self) -> list[BridgedEvent]:
        return [item for item in self.delivered() if item.error is not None]

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[BridgedEvent]:
        """The first ``count`` deliveries, waiting up to ``timeout`` seconds for them."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: len(self._delivered) >= count or self.failure is not None, timeout
            )
            if self.failure is not None:
                raise RuntimeError("the EventBridge bridge stopped") from self.failure
            if not done:
                raise TimeoutError(
                    f"{len(self._delivered)} of {count} events reached a state machine in {timeout}s"
                )
            return list(self._delivered[:count])

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                # Cleared before the queues are read: a message that lands during the round wakes the next.
                self._wake.clear()
                busy = False
                for target in self.targets:
                    busy |= self._drain(target)
                if not busy:
                    self._wake.wait(self._poll_seconds)
        except (ClientError, BotoCoreError) as exc:
            if self._stop.is_set():
                return
            LOGGER.exception("the EventBridge bridge stopped")
            with self._changed:
                self.failure = exc
                self._changed.notify_all()

    def _drain(self, target: BridgeTarget) -> bool:
        messages = self._sqs.receive_message(QueueUrl=target.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in messages:
            self._deliver(target, message)
            self._sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bool(messages)

    def _deliver(self, target: BridgeTarget, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        try:
            execution_input = target_input(target, event)
            # EventBridge names executions with a fresh id (moto would otherwise name them all "None").
            arn = self._stepfunctions.start_execution(
                stateMachineArn=target.state_machine_arn,
                name=str(uuid.uuid4()),
                input=json.dumps(execution_input),
            )["executionArn"]
            delivered = BridgedEvent(target.rule_name, target.target_id, target.state_machine_arn, event, arn)
        except (ClientError, BotoCoreError, ValueError) as exc:
            # EventBridge would retry, then dead-letter; the sandbox records the failure where tests see it.
            LOGGER.warning("bridge delivery failed", extra={"rule": target.rule_name, "error": str(exc)})
            delivered = BridgedEvent(
                target.rule_name,
                target.target_id,
                target.state_machine_arn,
                event,
                error=f"{type(exc).__name__}: {exc}",
            )
        with self._changed:
            self._delivered.append(delivered)
            self._changed.notify_all()
