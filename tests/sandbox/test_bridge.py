"""The EventBridge bridge delivers a message as soon as it lands on one of its queues, and an idle bridge
makes no calls between its slow polls: an idle sandbox costs no CPU."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from sandbox.bridge import Bridge
from sandbox.core import Sandbox
from sandbox.deploy import BridgeTarget
from tests.sandbox.test_engine import ping

TARGETS = [
    BridgeTarget("Rule1", f"rule-{number}", "Target0", f"https://sqs/q{number}", f"arn:sm:{number}")
    for number in range(3)
]


class FakeQueues:
    """SQS and Step Functions as the bridge calls them: messages per queue URL, and every call counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting: dict[str, list[dict[str, Any]]] = {target.queue_url: [] for target in TARGETS}
        self.receives = 0
        self.started: list[str] = []

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int) -> dict[str, Any]:
        with self._lock:
            self.receives += 1
            messages, self.waiting[QueueUrl] = self.waiting[QueueUrl], []
        return {"Messages": messages}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        pass

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.started.append(stateMachineArn)
        return {"executionArn": f"{stateMachineArn}:{name}"}

    def send(self, queue_url: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.waiting[queue_url].append({"Body": json.dumps(event), "ReceiptHandle": "r"})


@pytest.fixture
def queues() -> FakeQueues:
    return FakeQueues()


def test_an_idle_sandboxs_bridge_polls_its_queues_at_most_once_a_second(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    bridge = sandbox.bridge
    receive = bridge._sqs.receive_message
    receives: list[float] = []

    def counted(**kwargs: Any) -> Any:
        receives.append(time.monotonic())
        return receive(**kwargs)

    monkeypatch.setattr(bridge._sqs, "receive_message", counted)
    time.sleep(1.5)

    # One round of its queues a second at most: two rounds in a second and a half.
    assert len(receives) <= 2 * len(bridge.targets)


def test_a_message_is_delivered_as_soon_as_the_bridge_is_told(queues: FakeQueues):
    bridge = Bridge(TARGETS, sqs=queues, stepfunctions=queues, poll_seconds=60).start()
    try:
        time.sleep(0.1)
        queues.send(TARGETS[1].queue_url, ping(7))
        bridge.notify()
        [delivered] = bridge.wait_for(1, timeout=10)
    finally:
        bridge.stop()

    assert delivered.state_machine_arn == TARGETS[1].state_machine_arn
    assert queues.started == [TARGETS[1].state_machine_arn]


def test_a_bridge_stops_at_once_between_polls(queues: FakeQueues):
    bridge = Bridge(TARGETS, sqs=queues, stepfunctions=queues, poll_seconds=60).start()
    time.sleep(0.1)
    began = time.monotonic()

    bridge.stop()

    assert time.monotonic() - began < 5


def test_an_event_on_a_bridge_queue_is_delivered_before_the_next_poll(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sandbox.bridge, "_poll_seconds", 600)
    time.sleep(1.2)  # the bridge's wait at its own interval ends, and the next is ten minutes long
    delivered = len(sandbox.bridge.delivered())

    sandbox.put_event(ping(9))

    # PutEvents sends to the rule's queue, and the send wakes the bridge.
    [*_, last] = sandbox.bridge.wait_for(delivered + 1, timeout=10)
    assert last.event["detail"] == {"severity": 9}
