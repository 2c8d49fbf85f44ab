"""One instance in a fleet, from finding to contained to released, in the sandbox.

The look-alike has four volumes and two network interfaces and serves in an Auto Scaling group, behind a
target group (on an Application Load Balancer) and a classic load balancer, before the alert is sent. Its
whole state is read before the alert, once the approved workflow has contained it, and after
``tourniquet release``; release must bring back every field except what it documents that it keeps: the
evidence snapshots, and the replacement the group launched when the instance left it (attaching the instance
again raises the group's desired capacity by one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from sandbox.core import Sandbox
from sandbox.seed import SeededFleet, SeededInstance
from tests.workflow.runner import Runner
from tourniquet import store
from tourniquet.containment.iam import QUARANTINE_NAME, QUARANTINE_PATH
from tourniquet_cli.main import app

AUTOMATIC = [
    "preserve_evidence",
    "snapshot_volumes",
    "detach_from_scaling",
    "isolate_network",
    "tag_instance",
    "quarantine_instance_profile",
]
APPROVED = ["revoke_role_sessions", "stop_instance"]


def world(sandbox: Sandbox, seeded: SeededInstance, fleet: SeededFleet) -> dict[str, Any]:
    """Every field containment may change, read straight from the services, one key per field."""
    ec2, iam, autoscaling, elbv2, elb = (
        sandbox.client(name) for name in ("ec2", "iam", "autoscaling", "elbv2", "elb")
    )
    instance_id = seeded.instance_id
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def attribute(name: str) -> Any:
        answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name)
        return answer[name[0].upper() + name[1:]]["Value"]

    def tags(resource_id: str) -> dict[str, str]:
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {tag["Key"]: tag["Value"] for tag in found}

    state: dict[str, Any] = {
        "instance.state": instance["State"]["Name"],
        "instance.type": instance["InstanceType"],
        "instance.subnet": instance["SubnetId"],
        "instance.termination_protection": attribute("disableApiTermination"),
        "instance.shutdown_behaviour": attribute("instanceInitiatedShutdownBehavior"),
        "instance.tags": tags(instance_id),
        "instance.profile": [
            association["IamInstanceProfile"]["Arn"]
            for association in ec2.describe_iam_instance_profile_associations(
                Filters=[{"Name": "instance-id", "Values": [instance_id]}]
            )["IamInstanceProfileAssociations"]
            if association["State"] in ("associating", "associated")
        ],
    }
    for mapping in instance["BlockDeviceMappings"]:
        volume_id, device = mapping["Ebs"]["VolumeId"], mapping["DeviceName"]
        state[f"volume {device}.id"] = volume_id
        state[f"volume {device}.delete_on_termination"] = mapping["Ebs"]["DeleteOnTermination"]
        state[f"volume {device}.tags"] = tags(volume_id)
    for eni in instance["NetworkInterfaces"]:
        index = eni["Attachment"]["DeviceIndex"]
        state[f"eni {index}.id"] = eni["NetworkInterfaceId"]
        state[f"eni {index}.groups"] = [group["GroupId"] for group in eni["Groups"]]
        state[f"eni {index}.addresses"] = sorted(a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"])
        state[f"eni {index}.tags"] = tags(eni["NetworkInterfaceId"])
    state["role.inline_policies"] = sorted(iam.list_role_policies(RoleName=seeded.role_name)["PolicyNames"])

    membership = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
        "AutoScalingInstances"
    ]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[fleet.asg_name])[
        "AutoScalingGroups"
    ][0]
    state["asg.membership"] = [(m["AutoScalingGroupName"], m["LifecycleState"]) for m in membership]
    state["asg.desired_capacity"] = group["DesiredCapacity"]
    state["asg.size"] = (group["MinSize"], group["MaxSize"])
    state["asg.instances"] = sorted(i["InstanceId"] for i in group["Instances"])
    for arn in fleet.target_group_arns:
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        state[f"target group {arn.rsplit('/', 2)[-2]}.targets"] = sorted(
            (d["Target"]["Id"], d["Target"]["Port"]) for d in health
        )
    if fleet.classic_load_balancer_name:
        [balancer] = elb.describe_load_balancers(LoadBalancerNames=[fleet.classic_load_balancer_name])[
            "LoadBalancerDescriptions"
        ]
        # A set: moto keeps direct and group registrations in two lists, so one instance can show twice.
        state["classic load balancer.instances"] = sorted({i["InstanceId"] for i in balancer["Instances"]})

    snapshots = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:instance", "Values": [instance_id]}]
    )["Snapshots"]
    state["evidence snapshots"] = sorted(s["VolumeId"] for s in snapshots)
    return state


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (before, after)}`` for every field that differs, or exists on one side only."""
    missing = object()
    return {
        key: (before.get(key, missing), after.get(key, missing))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, missing) != after.get(key, missing)
    }


@dataclass(frozen=True)
class Story:
    seeded: SeededInstance
    fleet: SeededFleet
    before: dict[str, Any]
    contained: dict[str, Any]
    after: dict[str, Any]
    result: dict[str, Any]
    release_exit_code: int
    release_output: str
    release_errors: str

    @property
    def incident_id(self) -> str:
        return str(self.result["incident_id"])

    @property
    def released(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.release_output)
        return answer

    @property
    def replacement(self) -> str:
        """The instance the group launched when the look-alike left it."""
        [launched] = set(self.contained["asg.instances"]) - set(self.before["asg.instances"])
        return str(launched)


def _like_a_fleet_member(sandbox: Sandbox, seeded: SeededInstance) -> None:
    """Like an instance a group launches from its template: every volume is deleted with it, and a shutdown
    from inside terminates it. Containment must change both before anything stops the instance."""
    ec2 = sandbox.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[seeded.instance_id])["Reservations"][0]["Instances"][0]
    ec2.modify_instance_attribute(
        InstanceId=seeded.instance_id,
        BlockDeviceMappings=[
            {"DeviceName": m["DeviceName"], "Ebs": {"DeleteOnTermination": True}}
            for m in instance["BlockDeviceMappings"]
        ],
    )
    ec2.modify_instance_attribute(
        InstanceId=seeded.instance_id, Attribute="instanceInitiatedShutdownBehavior", Value="terminate"
    )


@pytest.fixture(scope="module")
def story(sandbox: Sandbox) -> Story:
    runner = Runner(sandbox)
    event, mapping = sandbox.map_alert(runner.event(), volumes=4, network_interfaces=2)
    seeded = sandbox.seed.seeded(next(original for original in mapping if original.startswith("i-")))
    _like_a_fleet_member(sandbox, seeded)
    fleet = sandbox.seed.fleet(
        seeded,
        autoscaling=sandbox.client("autoscaling"),
        elbv2=sandbox.client("elbv2"),
        elb=sandbox.client("elb"),
    )
    before = world(sandbox, seeded, fleet)

    result = runner.run(event, "approve").result
    contained = world(sandbox, seeded, fleet)

    released = CliRunner().invoke(
        app,
        ["release", result["incident_id"], "--json"],
        env={
            "TOURNIQUET_TABLE": sandbox.deployment.table_name(),
            "TOURNIQUET_RELEASE_WORKFLOW": sandbox.deployment.outputs["ReleaseStateMachineArn"],
        },
    )
    after = world(sandbox, seeded, fleet)
    return Story(
        seeded=seeded,
        fleet=fleet,
        before=before,
        contained=contained,
        after=after,
        result=result,
        release_exit_code=released.exit_code,
        release_output=released.stdout,
        release_errors=released.stderr,
    )


def test_the_look_alike_serves_in_its_fleet_before_the_alert(story: Story):
    before, fleet = story.before, story.fleet

    assert len([k for k in before if k.startswith("volume") and k.endswith(".id")]) == 4
    assert len([k for k in before if k.startswith("eni") and k.endswith(".id")]) == 2
    assert before["instance.state"] == "running"
    assert before["instance.termination_protection"] is False
    assert before["instance.shutdown_behaviour"] == "terminate"
    assert all(v is True for k, v in before.items() if k.endswith(".delete_on_termination"))
    assert before["instance.profile"] == [story.seeded.instance_profile_arn]
    assert all(before[f"eni {i}.groups"] == list(story.seeded.security_group_ids) for i in (0, 1))
    # Attaching raised the group's desired capacity from its own one instance to two.
    assert before["asg.membership"] == [(fleet.asg_name, "InService")]
    assert before["asg.desired_capacity"] == fleet.desired_capacity == 2
    assert before["asg.instances"] == sorted([story.seeded.instance_id, *fleet.sibling_instance_ids])
    members = before["asg.instances"]
    [targets] = [v for k, v in before.items() if k.startswith("target group")]
    assert targets == [(instance_id, 443) for instance_id in members]
    assert before["classic load balancer.instances"] == members
    assert before["instance.tags"]["aws:autoscaling:groupName"] == fleet.asg_name
    assert before["evidence snapshots"] == []


def test_approval_contains_the_instance_and_takes_it_out_of_its_fleet(story: Story, sandbox: Sandbox):
    contained, seeded, incident_id = story.contained, story.seeded, story.incident_id
    ec2, iam = sandbox.client("ec2"), sandbox.client("iam")

    assert story.result["status"] == "contained"
    assert [(a["name"], a["status"], a["verified"]) for a in story.result["actions"]] == [
        (name, "done", True) for name in AUTOMATIC + APPROVED
    ]
    snapshots = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:incident", "Values": [incident_id]}]
    )["Snapshots"]
    assert sorted(s["VolumeId"] for s in snapshots) == sorted(seeded.volume_ids)
    assert all(
        {t["Key"]: t["Value"] for t in s["Tags"]}["tourniquet:source-volume"] == s["VolumeId"]
        for s in snapshots
    )
    [quarantine] = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"tourniquet-quarantine-{seeded.vpc_id}"]}]
    )["SecurityGroups"]
    assert quarantine["VpcId"] == seeded.vpc_id
    assert quarantine["IpPermissions"] == quarantine["IpPermissionsEgress"] == []
    assert contained["eni 0.groups"] == contained["eni 1.groups"] == [quarantine["GroupId"]]
    # Out of the group without lowering its capacity: the group launched a replacement.
    assert contained["asg.membership"] == []
    assert contained["asg.desired_capacity"] == 2
    assert contained["asg.instances"] == sorted([*story.fleet.sibling_instance_ids, story.replacement])
    assert all(
        seeded.instance_id not in {target for target, _ in v}
        for k, v in contained.items()
        if k.startswith("target group")
    )
    assert seeded.instance_id not in contained["classic load balancer.instances"]
    assert "aws:autoscaling:groupName" not in contained["instance.tags"]
    account = seeded.role_arn.split(":")[4]
    assert contained["instance.profile"] == [
        f"arn:aws:iam::{account}:instance-profile{QUARANTINE_PATH}{QUARANTINE_NAME}"
    ]
    attached = iam.list_attached_role_policies(RoleName=QUARANTINE_NAME)["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [
        f"arn:aws:iam::{account}:policy/tourniquet/TourniquetDenyAll"
    ]
    assert contained["instance.termination_protection"] is True
    assert contained["instance.shutdown_behaviour"] == "stop"
    assert [v for k, v in contained.items() if k.endswith(".delete_on_termination")] == [False] * 4
    assert contained["instance.state"] == "stopped"
    assert contained["instance.tags"]["tourniquet:incident"] == incident_id
    assert f"tourniquet-revoke-sessions-{incident_id}" in contained["role.inline_policies"]


def test_the_timeline_proves_every_step_with_its_before_state(story: Story, sandbox: Sandbox):
    timeline = story.result["timeline"]
    actions = [e for e in timeline if e["kind"] == "action"]
    steps = [e for e in timeline if e["kind"] == "action_step"]

    # Isolation is proved and recorded the moment it is made; the proofs of the steps on its way follow it.
    isolated = AUTOMATIC.index("isolate_network")
    assert [e["action"] for e in actions] == [
        "isolate_network",
        *AUTOMATIC[:isolated],
        *AUTOMATIC[isolated + 1 :],
        *APPROVED,
    ]
    for event in actions:
        assert (event["status"], event["verified"]) == ("done", True), event["action"]
        assert event["request_id"], event["action"]
        assert event["before"] and event["after"], event["action"]
    detach = next(e for e in actions if e["action"] == "detach_from_scaling")
    assert detach["before"]["auto_scaling"]["group"] == story.fleet.asg_name
    assert detach["before"]["auto_scaling"]["lifecycle_state"] == "InService"
    assert [r["target"]["Id"] for r in detach["before"]["target_groups"]] == [story.seeded.instance_id]
    assert detach["before"]["load_balancers"] == [story.fleet.classic_load_balancer_name]
    assert detach["after"] == {"auto_scaling": None, "target_groups": [], "load_balancers": []}
    assert [(s["action"], s["step"]) for s in steps] == [
        ("detach_from_scaling", "detach"),
        *[("isolate_network", step) for _ in range(2) for step in ("untrack", "quarantine")],
    ]
    assert {s["network_interface"] for s in steps if s["action"] == "isolate_network"} == set(
        story.seeded.network_interface_ids
    )
    [decision] = [e for e in timeline if e["kind"] == "decision"]
    assert decision["actor"] == sandbox.approver.id
    kinds = [e["kind"] for e in timeline]
    assert kinds.index("decision") < kinds.index("outcome")
    assert max(i for i, e in enumerate(timeline) if e.get("action") == "isolate_network") < kinds.index(
        "approval_requested"
    )


def test_release_restores_every_field_but_the_groups_replacement_and_the_evidence(story: Story):
    before, after, replacement = story.before, story.after, story.replacement
    [target_group] = [k for k in before if k.startswith("target group")]

    assert story.release_exit_code == 0, story.release_errors
    assert differences(before, after) == {
        # DetachFromScaling.restore: attaching adds one to the desired capacity, and the replacement the
        # group launched at detach stays in the group and its load balancers.
        "asg.desired_capacity": (2, 3),
        "asg.instances": (before["asg.instances"], sorted([*before["asg.instances"], replacement])),
        target_group: (before[target_group], sorted([*before[target_group], (replacement, 443)])),
        "classic load balancer.instances": (
            before["classic load balancer.instances"],
            sorted([*before["classic load balancer.instances"], replacement]),
        ),
        # SnapshotVolumes.kept: the evidence outlives the release.
        "evidence snapshots": ([], sorted(story.seeded.volume_ids)),
    }


def test_release_restarts_the_stopped_instance_and_records_each_restoration(story: Story):
    released = story.released
    restorations = {r["action"]: (r["status"], r["verified"]) for r in released["restorations"]}
    events = [e for e in store.timeline(story.incident_id) if e["kind"] == "release"]

    assert story.release_exit_code == 0, story.release_errors
    assert released["status"] == "released"
    # Newest action first; stop_instance is undone by starting the instance, as it was running before.
    assert [r["action"] for r in released["restorations"]] == list(reversed(AUTOMATIC + APPROVED))
    assert restorations == {
        **{name: ("done", True) for name in AUTOMATIC + APPROVED},
        "snapshot_volumes": ("kept", True),
    }
    [stop] = [e for e in events if e["action"] == "stop_instance"]
    assert (stop["before"], stop["after"], stop["restored_to"]) == (
        {"state": "stopped"},
        {"state": "running"},
        {"state": "running"},
    )
    assert story.after["instance.state"] == "running"
    incident = store.get_incident(story.incident_id)
    assert incident["status"] == "released"
    assert incident["released_by"].startswith("arn:aws:")
    assert {e["actor"] for e in events} == {incident["released_by"]}
