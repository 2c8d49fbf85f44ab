"""The Release button end to end: a contained incident's card offers it, an approver clicks it, and the
release workflow (the real ASL, in the sandbox) returns the instance to its before-state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.core import OUTSIDER, Sandbox
from tests.workflow.runner import Runner
from tourniquet import store

pytestmark = pytest.mark.long


def _state(sandbox: Sandbox, instance_id: str) -> dict[str, Any]:
    """What containment changes and release must put back, as plainly comparable values."""
    ec2 = sandbox.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {
        "groups": {
            eni["NetworkInterfaceId"]: sorted(g["GroupId"] for g in eni["Groups"])
            for eni in instance["NetworkInterfaces"]
        },
        "profile": (instance.get("IamInstanceProfile") or {}).get("Arn"),
        "state": instance["State"]["Name"],
    }


def test_the_release_button_restores_the_instance_and_the_card_says_so(runner: Runner, sandbox: Sandbox):
    event, mapping = sandbox.map_alert(runner.event())
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    before = _state(sandbox, instance_id)
    result = runner.run(event, "approve").result
    incident_id = result["incident_id"]
    assert result["status"] == "contained"
    assert _state(sandbox, instance_id) != before

    card = sandbox.wait_for_card(incident_id)
    [(_, button)] = [(block, b) for block, b in card.buttons() if b["action_id"] == "release"]
    offer_id = store.get_incident(incident_id)["release_approval_id"]
    assert button["value"] == offer_id

    release_arn = sandbox.release_execution_arn(incident_id)
    sfn = sandbox.client("stepfunctions")

    # Someone who may not approve is refused; nothing starts.
    assert sandbox.click(card, "release", OUTSIDER.id)[0] == 200
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=release_arn)
    assert store.timeline(incident_id)[-1]["kind"] == "rejected_click"

    assert sandbox.click(card, "release")[0] == 200
    execution = sandbox.wait_for_execution(release_arn, timeout=60)

    assert execution["status"] == "SUCCEEDED"
    assert _state(sandbox, instance_id) == before
    incident = store.get_incident(incident_id)
    assert (incident["status"], incident["released_by"]) == ("released", sandbox.approver.id)
    released = [e for e in store.timeline(incident_id) if e["kind"] == "released"]
    assert [(e["actor"], e["approval_id"]) for e in released] == [(sandbox.approver.id, offer_id)]
    restorations = [e for e in store.timeline(incident_id) if e["kind"] == "release"]
    assert restorations
    assert all(e["verified"] for e in restorations)
    final = sandbox.slack.message(card.channel, card.ts)
    assert final is not None
    assert final.buttons() == []
    assert f"🔓 *Released* by <@{sandbox.approver.id}>" in json.dumps(final.blocks, ensure_ascii=False)


def test_a_release_that_cannot_restore_fails_loudly_and_leaves_the_rest_released(
    runner: Runner, sandbox: Sandbox
):
    event = runner.event()
    # Its own security group: the group is deleted below, and later scenarios share the sandbox's groups.
    [interface] = event["detail"]["resource"]["instanceDetails"]["networkInterfaces"]
    interface["securityGroups"] = [
        {"groupId": "sg-0de1e7ed000000001", "groupName": "deleted-while-contained"}
    ]
    event, mapping = sandbox.map_alert(event)
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    original_groups = sorted(
        {g for groups in _state(sandbox, instance_id)["groups"].values() for g in groups}
    )
    result = runner.run(event, "approve").result
    incident_id = result["incident_id"]
    # Someone deletes the application's security group while the instance is contained.
    ec2 = sandbox.client("ec2")
    for group in original_groups:
        ec2.delete_security_group(GroupId=group)

    card = sandbox.wait_for_card(incident_id)
    assert sandbox.click(card, "release")[0] == 200
    execution = sandbox.wait_for_execution(sandbox.release_execution_arn(incident_id), timeout=60)

    assert execution["status"] == "FAILED"
    kinds = [e["kind"] for e in store.timeline(incident_id)]
    assert "release_failed" in kinds and "released" not in kinds
    restored = {e["action"]: e for e in store.timeline(incident_id) if e["kind"] == "release"}
    # The groups could not be put back, and verification says which; every other restoration still ran.
    assert restored["isolate_network"]["verified"] is False
    assert any(original_groups[0] in problem for problem in restored["isolate_network"]["detail"]["problems"])
    assert (
        restored["quarantine_instance_profile"]["status"],
        restored["quarantine_instance_profile"]["verified"],
    ) == (
        "done",
        True,
    )
    assert store.get_incident(incident_id)["status"] == "contained"
    final = sandbox.slack.message(card.channel, card.ts)
    assert final is not None
    assert "⚠️ *Release failed*" in json.dumps(final.blocks, ensure_ascii=False)
