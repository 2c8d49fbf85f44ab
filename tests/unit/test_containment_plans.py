"""What each containment action plans from a given state, and how requests are validated, without AWS."""

from __future__ import annotations

from typing import Any

import pytest

from tourniquet import errors
from tourniquet.containment import actions, registry
from tourniquet.containment.actions import Context
from tourniquet.containment.ec2 import Group, group_calls
from tourniquet.containment.model import ContainRequest
from tourniquet.state import Scope

CTX = Context(
    incident_id="inc-1",
    target_id="i-0a1b2c3d4e5f67890",
    record_step=lambda step: None,
    scope=Scope(account="123456789012", region="eu-west-1"),
)
WANTED = {"tourniquet:incident": "inc-1", "tourniquet:status": "contained"}
ALLOW_ALL_V4 = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ALLOW_ALL_V6 = {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}


def plan(action: str, state: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(call) for call in registry.get(action).plan(CTX, state)]


# tag_instance


def test_tagging_lists_only_resources_without_the_tags():
    state = {"resources": [{"id": "i-0a1b2c3d4e5f67890", "tags": WANTED}, {"id": "vol-1", "tags": {}}]}

    [call] = plan("tag_instance", state)

    assert call["operation"] == "CreateTags"
    assert call["params"]["Resources"] == ["vol-1"]


def test_tagging_an_already_tagged_instance_plans_nothing():
    assert plan("tag_instance", {"resources": [{"id": "i-0a1b2c3d4e5f67890", "tags": WANTED}]}) == []


def test_a_tag_of_another_incident_is_replaced():
    state = {"resources": [{"id": "eni-1", "tags": {**WANTED, "tourniquet:incident": "inc-0"}}]}

    assert plan("tag_instance", state)[0]["params"]["Resources"] == ["eni-1"]


# preserve_evidence


def test_preservation_changes_one_attribute_per_call_and_only_what_is_needed():
    state = {
        "disable_api_termination": True,
        "shutdown_behavior": "terminate",
        "volumes": [
            {"volume_id": "vol-1", "device": "/dev/xvda", "delete_on_termination": True},
            {"volume_id": "vol-2", "device": "/dev/sdf", "delete_on_termination": False},
        ],
    }

    calls = plan("preserve_evidence", state)

    assert [c["params"].get("Attribute") for c in calls] == ["instanceInitiatedShutdownBehavior", None]
    assert calls[1]["params"]["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}}
    ]


def test_preserved_instance_plans_nothing():
    state = {"disable_api_termination": True, "shutdown_behavior": "stop", "volumes": []}

    assert plan("preserve_evidence", state) == []


# snapshot_volumes

VOLUMES = [{"volume_id": "vol-1", "device": "/dev/xvda"}, {"volume_id": "vol-2", "device": "/dev/sdf"}]
FULL_TAGS = {
    "tourniquet:incident": "inc-1",
    "tourniquet:evidence": "true",
    "tourniquet:instance": "i-0a1b2c3d4e5f67890",
}


def snapshot(volume_id: str, state: str = "completed", **tags: str) -> dict[str, Any]:
    return {"snapshot_id": f"snap-{volume_id}", "volume_id": volume_id, "state": state, "tags": tags}


def test_no_evidence_yet_takes_one_crash_consistent_set_and_tags_each_snapshot():
    calls = plan("snapshot_volumes", {"volumes": VOLUMES, "snapshots": []})

    assert [c["operation"] for c in calls] == ["CreateSnapshots", "CreateTags", "CreateTags"]
    assert calls[0]["params"]["InstanceSpecification"] == {
        "InstanceId": CTX.target_id,
        "ExcludeBootVolume": False,
    }
    assert calls[1]["params"]["Resources"] == ["<snapshot of vol-1>"]
    assert {"Key": "tourniquet:device", "Value": "/dev/xvda"} in calls[1]["params"]["Tags"]


def test_a_partial_set_snapshots_only_the_missing_volume():
    tags = {**FULL_TAGS, "tourniquet:source-volume": "vol-1", "tourniquet:device": "/dev/xvda"}
    state = {"volumes": VOLUMES, "snapshots": [snapshot("vol-1", **tags)]}

    [call] = plan("snapshot_volumes", state)

    assert call["operation"] == "CreateSnapshot"
    assert call["params"]["VolumeId"] == "vol-2"
    tag_keys = {t["Key"] for t in call["params"]["TagSpecifications"][0]["Tags"]}
    assert tag_keys == {*FULL_TAGS, "tourniquet:source-volume", "tourniquet:device"}


def test_a_failed_snapshot_is_not_evidence():
    state = {"volumes": VOLUMES[:1], "snapshots": [snapshot("vol-1", state="error")]}

    assert [c["operation"] for c in plan("snapshot_volumes", state)] == ["CreateSnapshots", "CreateTags"]


def test_an_untagged_evidence_snapshot_gets_its_tags_and_no_twin():
    state = {
        "volumes": VOLUMES[:1],
        "snapshots": [snapshot("vol-1", state="pending", **{"tourniquet:incident": "inc-1"})],
    }

    [call] = plan("snapshot_volumes", state)

    assert call["operation"] == "CreateTags"
    assert call["params"]["Resources"] == ["snap-vol-1"]


def test_an_instance_without_ebs_volumes_plans_nothing():
    assert plan("snapshot_volumes", {"volumes": [], "snapshots": []}) == []


# isolate_network


def group_state(vpc: str, role: str, group_id: str | None, ingress=(), egress=()) -> dict[str, Any]:
    return {
        "vpc_id": vpc,
        "role": role,
        "group_id": group_id,
        "ingress": list(ingress),
        "egress": list(egress),
        "managed": True,
    }


READY_GROUPS = [
    group_state("vpc-1", "untracking", "sg-u", [ALLOW_ALL_V4, ALLOW_ALL_V6], [ALLOW_ALL_V4, ALLOW_ALL_V6]),
    group_state("vpc-1", "quarantine", "sg-q"),
]


def test_isolation_from_scratch_creates_both_groups_then_swaps_each_interface_twice():
    state = {
        "network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-web"]}],
        "groups": [group_state("vpc-1", "untracking", None), group_state("vpc-1", "quarantine", None)],
    }

    calls = plan("isolate_network", state)

    assert [c["operation"] for c in calls] == [
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "CreateSecurityGroup",
        "RevokeSecurityGroupEgress",
        "ModifyNetworkInterfaceAttribute",
        "ModifyNetworkInterfaceAttribute",
    ]
    assert [c["params"]["Groups"] for c in calls[-2:]] == [
        ["<tourniquet-untracking-vpc-1>"],
        ["<tourniquet-quarantine-vpc-1>"],
    ]


def test_an_interface_left_in_the_untracking_group_only_needs_quarantine():
    state = {
        "network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-u"]}],
        "groups": READY_GROUPS,
    }

    assert plan("isolate_network", state) == [
        {
            "operation": "ModifyNetworkInterfaceAttribute",
            "params": {"NetworkInterfaceId": "eni-1", "Groups": ["sg-q"]},
        }
    ]


def test_isolated_interfaces_plan_nothing_and_need_no_untracking_group():
    state = {
        "network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-q"]}],
        "groups": [group_state("vpc-1", "untracking", None), group_state("vpc-1", "quarantine", "sg-q")],
    }

    assert plan("isolate_network", state) == []


def test_an_interface_in_the_quarantine_group_plus_another_is_swapped_again():
    state = {
        "network_interfaces": [{"id": "eni-1", "vpc_id": "vpc-1", "groups": ["sg-q", "sg-web"]}],
        "groups": READY_GROUPS,
    }

    assert [c["params"]["Groups"] for c in plan("isolate_network", state)] == [["sg-u"], ["sg-q"]]


def test_a_rule_added_to_the_quarantine_group_is_revoked():
    ssh = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "UserIdGroupPairs": [],
    }

    calls = group_calls("quarantine", "vpc-1", Group("sg-q", ingress=(ssh,), egress=()))

    assert calls == [
        {
            "operation": "RevokeSecurityGroupIngress",
            "params": {
                "GroupId": "sg-q",
                "IpPermissions": [
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                ],
            },
        }
    ]


def test_an_untracking_group_missing_ipv6_egress_gets_only_that_rule():
    calls = group_calls(
        "untracking", "vpc-1", Group("sg-u", ingress=(ALLOW_ALL_V4, ALLOW_ALL_V6), egress=(ALLOW_ALL_V4,))
    )

    assert calls == [
        {
            "operation": "AuthorizeSecurityGroupEgress",
            "params": {"GroupId": "sg-u", "IpPermissions": [ALLOW_ALL_V6]},
        }
    ]


def test_a_narrow_rule_does_not_count_as_allowing_all():
    narrow = {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}

    calls = group_calls(
        "untracking", "vpc-1", Group("sg-u", ingress=(narrow,), egress=(ALLOW_ALL_V4, ALLOW_ALL_V6))
    )

    assert calls[0]["params"]["IpPermissions"] == [ALLOW_ALL_V4, ALLOW_ALL_V6]


def test_a_look_alike_group_without_the_managed_tag_is_refused():
    squatter = Group("sg-x", ingress=(), egress=(), managed=False)

    with pytest.raises(errors.ContainmentFailed, match="sg-x"):
        group_calls("quarantine", "vpc-1", squatter)


# stop_instance


def test_stopping_a_running_instance_is_a_plain_stop():
    assert plan("stop_instance", {"state": "running"}) == [
        {"operation": "StopInstances", "params": {"InstanceIds": [CTX.target_id], "Force": False}}
    ]


@pytest.mark.parametrize("state", ["stopping", "stopped"])
def test_a_stopped_instance_plans_nothing(state):
    assert plan("stop_instance", {"state": state}) == []


def test_a_terminated_instance_cannot_be_stopped():
    with pytest.raises(errors.ContainmentFailed, match="terminated"):
        plan("stop_instance", {"state": "terminated"})


def test_only_stopping_and_lifting_a_protection_are_destructive_instance_actions():
    destructive = sorted(name for name, action in actions.ACTIONS.items() if action.destructive)

    assert destructive == ["lift_protection", "stop_instance"]


def test_only_lifting_a_protection_acts_on_a_protected_instance():
    assert [name for name, action in actions.ACTIONS.items() if action.lifts_protection] == [
        "lift_protection"
    ]


# the request


TARGET = {
    "type": "AwsEc2Instance",
    "id": "i-0a1b2c3d4e5f67890",
    "account": "123456789012",
    "region": "eu-west-1",
}


def request(*, target: dict[str, Any] = TARGET, **changes: Any) -> dict[str, Any]:
    base = {
        "mode": "auto",
        "incident_id": "inc-1",
        "plan": {"playbook": "test", "automatic": ["tag_instance"], "target": target},
    }
    return {**base, **changes}


def test_dry_run_defaults_to_false():
    assert ContainRequest.parse(request()).dry_run is False


def test_the_step_runs_the_plans_automatic_or_approved_actions_by_its_mode():
    plan = {
        "playbook": "test",
        "automatic": ["tag_instance"],
        "approval": ["stop_instance"],
        "target": TARGET,
    }

    assert ContainRequest.parse(request(plan=plan)).actions == ("tag_instance",)
    assert ContainRequest.parse(request(plan=plan, mode="approval")).actions == ("stop_instance",)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "whenever"}, "mode"),
        ({"incident_id": ""}, "incident_id"),
        ({"plan": {"automatic": ["tag_instance"]}}, "plan.playbook"),
    ],
)
def test_invalid_requests_fail_naming_the_field(changes, field):
    with pytest.raises(errors.ContainmentFailed, match=field):
        ContainRequest.parse(request(**changes))


def test_a_target_containment_cannot_act_on_fails_naming_the_field():
    wrong = {"type": "AwsIamRole", "id": "i-0a1b2c3d4e5f67890", "account": "1", "region": "r"}

    with pytest.raises(errors.ContainmentFailed, match=r"plan\.target\.type"):
        ContainRequest.parse(request(target=wrong)).target()


def test_unknown_action_lists_the_known_ones():
    with pytest.raises(errors.ContainmentFailed, match="isolate_network"):
        registry.get("reboot_instance")
