"""detach_from_scaling, disassociate_eip, quarantine_instance_profile, revoke_role_sessions in moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import (
    REGION,
    Ec2Lab,
    ExposedLab,
    contain_one,
    contain_request,
    expose,
    launch_instance,
    member_client,
    moto_client,
)
from tourniquet import errors, store
from tourniquet.containment import calls as containment_calls
from tourniquet.containment import ec2 as containment_ec2
from tourniquet.containment import instance_access

INCIDENT = "inc-7a1b2c3d4e5f"


@pytest.fixture
def exposed(aws: None) -> ExposedLab:
    return expose(launch_instance())


def event(lab: Ec2Lab, action: str, *, mode: str = "auto", dry_run: bool = False) -> dict[str, Any]:
    target = {"type": "AwsEc2Instance", "id": lab.instance_id, "account": "123456789012", "region": REGION}
    return contain_request([action], target, incident_id=INCIDENT, mode=mode, dry_run=dry_run)


def action_events() -> list[dict[str, Any]]:
    return [e for e in store.timeline(INCIDENT) if e["kind"] == "action"]


def undo(action: str, lab: Ec2Lab) -> dict[str, Any]:
    [record] = [r for r in store.undo_records(INCIDENT) if r["sk"] == f"UNDO#{action}#{lab.instance_id}"]
    return record["before"]


def scaling_members(group: str) -> list[str]:
    found = moto_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return [i["InstanceId"] for i in found["AutoScalingGroups"][0]["Instances"]]


def desired(group: str) -> int:
    found = moto_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return int(found["AutoScalingGroups"][0]["DesiredCapacity"])


def targets(arn: str) -> list[dict[str, Any]]:
    return [
        d["Target"]
        for d in moto_client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    ]


def classic_members(name: str) -> list[str]:
    [balancer] = moto_client("elb").describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"
    ]
    return [i["InstanceId"] for i in balancer["Instances"]]


def addresses_of(exposed: ExposedLab) -> list[dict[str, Any]]:
    return moto_client("ec2").describe_addresses(AllocationIds=[exposed.allocation_id])["Addresses"]


def profile_of(lab: Ec2Lab) -> str | None:
    found = moto_client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [lab.instance_id]}]
    )["IamInstanceProfileAssociations"]
    active = [a for a in found if a["State"] in ("associating", "associated")]
    return active[0]["IamInstanceProfile"]["Arn"] if active else None


# detach_from_scaling


def test_detach_from_scaling_leaves_the_group_and_every_load_balancer_without_lowering_capacity(exposed):
    lab = exposed.lab
    capacity = desired(exposed.group)

    result = contain_one(event(lab, "detach_from_scaling"))

    assert (result["status"], result["verified"]) == ("done", True)
    assert lab.instance_id not in scaling_members(exposed.group)
    assert desired(exposed.group) == capacity
    assert targets(exposed.target_group_arn) == []
    assert targets(exposed.ip_target_group_arn) == []
    assert classic_members(exposed.load_balancer) == []
    [recorded] = action_events()
    assert recorded["verified"] is True
    assert len(recorded["request_id"]) == 4


def test_detach_from_scaling_records_the_group_its_capacity_and_every_registration_first(exposed):
    lab = exposed.lab
    contain_one(event(lab, "detach_from_scaling"))

    before = undo("detach_from_scaling", lab)
    assert before["auto_scaling"]["group"] == exposed.group
    assert before["auto_scaling"]["lifecycle_state"] == "InService"
    assert before["auto_scaling"]["desired_capacity"] == 1
    assert {(r["target_group_arn"], r["target"]["Port"]) for r in before["target_groups"]} == {
        (exposed.target_group_arn, 8080),
        (exposed.ip_target_group_arn, 9090),
    }
    assert before["load_balancers"] == [exposed.load_balancer]


def recording(seen: list[str], parameter: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, noting the value of ``parameter`` in ``seen`` each time it is made."""

    def recorded(**kwargs: Any) -> Any:
        seen.append(kwargs[parameter])
        return call(**kwargs)

    return recorded


def test_detach_from_scaling_reads_no_instance_target_group_of_another_vpc(exposed, monkeypatch):
    elbv2 = moto_client("elbv2")
    other_vpc = moto_client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    elsewhere = elbv2.create_target_group(
        Name="other-app", Protocol="HTTP", Port=80, VpcId=other_vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    client = member_client("elbv2", INCIDENT)
    read_groups: list[str] = []
    health = recording(read_groups, "TargetGroupArn", client.describe_target_health)
    monkeypatch.setattr(client, "describe_target_health", health)

    result = contain_one(event(exposed.lab, "detach_from_scaling"))

    assert (result["status"], result["verified"]) == ("done", True)
    assert elsewhere not in read_groups
    assert {exposed.target_group_arn, exposed.ip_target_group_arn} <= set(read_groups)


def test_detach_from_scaling_twice_changes_nothing_the_second_time(exposed):
    contain_one(event(exposed.lab, "detach_from_scaling"))

    second = contain_one(event(exposed.lab, "detach_from_scaling"))

    assert (second["status"], second["verified"]) == ("unchanged", True)
    assert undo("detach_from_scaling", exposed.lab)["auto_scaling"]["group"] == exposed.group


def test_detach_from_scaling_detects_a_registration_made_again(exposed, monkeypatch):
    real = containment_ec2.describe_instance
    seen = {"count": 0}

    def describe(instance_id: str) -> containment_ec2.Instance:
        seen["count"] += 1
        if seen["count"] == 2:  # the first read, then verification
            moto_client("elbv2").register_targets(
                TargetGroupArn=exposed.target_group_arn, Targets=[{"Id": instance_id, "Port": 8080}]
            )
        return real(instance_id)

    monkeypatch.setattr(containment_ec2, "describe_instance", describe)

    with pytest.raises(errors.VerificationFailed, match="still registered"):
        contain_one(event(exposed.lab, "detach_from_scaling"))
    assert action_events()[0]["verified"] is False


def test_detach_from_scaling_without_scaling_or_load_balancers_is_unchanged(aws):
    lab = launch_instance()

    result = contain_one(event(lab, "detach_from_scaling"))

    assert (result["status"], result["verified"]) == ("unchanged", True)


# disassociate_eip


def test_disassociate_eip_takes_the_address_off_and_keeps_it_allocated(exposed):
    result = contain_one(event(exposed.lab, "disassociate_eip"))

    assert (result["status"], result["verified"]) == ("done", True)
    [address] = addresses_of(exposed)
    assert not address.get("AssociationId")
    [before] = undo("disassociate_eip", exposed.lab)["addresses"]
    assert before["allocation_id"] == exposed.allocation_id
    assert before["network_interface_id"] == exposed.lab.eni_ids[0]


def test_disassociate_eip_twice_changes_nothing_the_second_time(exposed):
    contain_one(event(exposed.lab, "disassociate_eip"))

    assert contain_one(event(exposed.lab, "disassociate_eip"))["status"] == "unchanged"


# quarantine_instance_profile


def test_quarantine_instance_profile_swaps_in_the_deny_all_profile(exposed):
    result = contain_one(event(exposed.lab, "quarantine_instance_profile"))

    assert (result["status"], result["verified"]) == ("done", True)
    iam = moto_client("iam")
    profile = iam.get_instance_profile(InstanceProfileName="tourniquet-quarantine")["InstanceProfile"]
    assert profile_of(exposed.lab) == profile["Arn"]
    assert profile["Path"] == "/tourniquet/"
    assert [r["RoleName"] for r in profile["Roles"]] == ["tourniquet-quarantine"]
    attached = iam.list_attached_role_policies(RoleName="tourniquet-quarantine")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [
        "arn:aws:iam::123456789012:policy/tourniquet/TourniquetDenyAll"
    ]
    assert iam.list_role_policies(RoleName="tourniquet-quarantine")["PolicyNames"] == []
    assert (
        undo("quarantine_instance_profile", exposed.lab)["association"]["profile_arn"] == exposed.profile_arn
    )


def test_quarantine_profile_is_created_once_and_reused(exposed):
    contain_one(event(exposed.lab, "quarantine_instance_profile"))
    other = launch_instance()

    second = contain_one(event(other, "quarantine_instance_profile"))

    assert second["verified"] is True
    # The second instance had no profile: it is associated, and no IAM entity is created again.
    assert [c for c in action_events()[1]["request_id"]] == ["request-id"]
    assert profile_of(other) == profile_of(exposed.lab)


def test_quarantine_instance_profile_twice_changes_nothing_the_second_time(exposed):
    contain_one(event(exposed.lab, "quarantine_instance_profile"))

    assert contain_one(event(exposed.lab, "quarantine_instance_profile"))["status"] == "unchanged"


def test_quarantine_refuses_a_role_that_only_borrows_the_name(exposed):
    moto_client("iam").create_role(RoleName="tourniquet-quarantine", AssumeRolePolicyDocument="{}")

    with pytest.raises(errors.ContainmentFailed, match="lacks tourniquet:managed=true"):
        contain_one(event(exposed.lab, "quarantine_instance_profile"))
    assert profile_of(exposed.lab) == exposed.profile_arn


def test_quarantine_waits_for_a_new_profile_to_reach_ec2(exposed, monkeypatch):
    real = containment_calls.execute
    failures = {"left": 2}
    slept: list[float] = []

    def execute(call: Any, client: Any = None) -> Any:
        if call["operation"] == "ReplaceIamInstanceProfileAssociation" and failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "InvalidParameterValue", "Message": "x"}}, call["operation"])
        return real(call, client)

    monkeypatch.setattr(instance_access, "execute", execute)
    monkeypatch.setattr(instance_access, "_sleep", slept.append)

    result = contain_one(event(exposed.lab, "quarantine_instance_profile"))

    assert result["verified"] is True
    assert slept == [1.0, 2.0]


# revoke_role_sessions


def test_revoke_role_sessions_never_runs_without_an_approval(exposed):
    with pytest.raises(errors.ContainmentFailed, match="only after an approval"):
        contain_one(event(exposed.lab, "revoke_role_sessions"))

    assert moto_client("iam").list_role_policies(RoleName=exposed.role)["PolicyNames"] == []


def test_revoke_role_sessions_denies_the_original_role_sessions_issued_before_now(exposed):
    contain_one(event(exposed.lab, "quarantine_instance_profile"))
    started = store.iso()

    result = contain_one(event(exposed.lab, "revoke_role_sessions", mode="approval"))

    assert (result["status"], result["verified"]) == ("done", True)
    name = f"tourniquet-revoke-sessions-{INCIDENT}"
    assert moto_client("iam").list_role_policies(RoleName=exposed.role)["PolicyNames"] == [name]
    [statement] = moto_client("iam").get_role_policy(RoleName=exposed.role, PolicyName=name)[
        "PolicyDocument"
    ]["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", "*", "*")
    cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert started <= cutoff <= store.iso()
    assert result["detail"] == {"role_name": exposed.role, "policy_name": name, "revoked_before": cutoff}


def test_revoke_role_sessions_twice_keeps_the_first_cutoff(exposed):
    first = contain_one(event(exposed.lab, "revoke_role_sessions", mode="approval"))

    second = contain_one(event(exposed.lab, "revoke_role_sessions", mode="approval"))

    assert second["status"] == "unchanged"
    assert second["detail"]["revoked_before"] == first["detail"]["revoked_before"]


def test_revoke_role_sessions_refuses_a_protected_role(exposed):
    moto_client("iam").tag_role(RoleName=exposed.role, Tags=[{"Key": "tourniquet:protected", "Value": "ci"}])

    with pytest.raises(errors.ContainmentFailed, match="carries tourniquet:protected"):
        contain_one(event(exposed.lab, "revoke_role_sessions", mode="approval"))
    assert moto_client("iam").list_role_policies(RoleName=exposed.role)["PolicyNames"] == []


def test_revoke_role_sessions_of_an_instance_without_a_role_is_unchanged(aws):
    result = contain_one(event(launch_instance(), "revoke_role_sessions", mode="approval"))

    assert (result["status"], result["verified"]) == ("unchanged", True)


# dry run, for every new action

NEW_ACTIONS = [
    "detach_from_scaling",
    "disassociate_eip",
    "quarantine_instance_profile",
    "revoke_role_sessions",
]


def world(exposed: ExposedLab) -> dict[str, Any]:
    iam = moto_client("iam")
    return {
        "members": scaling_members(exposed.group),
        "targets": targets(exposed.target_group_arn) + targets(exposed.ip_target_group_arn),
        "classic": classic_members(exposed.load_balancer),
        "address": addresses_of(exposed),
        "profile": profile_of(exposed.lab),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "policies": iam.list_role_policies(RoleName=exposed.role)["PolicyNames"],
    }


@pytest.mark.parametrize("action", NEW_ACTIONS)
def test_dry_run_lists_the_calls_and_changes_nothing(exposed, action):
    before = world(exposed)

    result = contain_one(event(exposed.lab, action, mode="approval", dry_run=True))

    assert world(exposed) == before
    assert (result["status"], result["verified"]) == ("planned", False)
    assert result["detail"]["calls"]
    assert store.undo_records(INCIDENT) == []


def test_dry_run_of_detaching_names_each_service(exposed):
    result = contain_one(event(exposed.lab, "detach_from_scaling", dry_run=True))

    assert [(c["service"], c["operation"]) for c in result["detail"]["calls"]] == [
        ("autoscaling", "DetachInstances"),
        ("elbv2", "DeregisterTargets"),
        ("elbv2", "DeregisterTargets"),
        ("elb", "DeregisterInstancesFromLoadBalancer"),
    ]
    assert result["detail"]["calls"][0]["params"]["ShouldDecrementDesiredCapacity"] is False


@pytest.mark.parametrize("action", NEW_ACTIONS)
def test_protected_instance_is_never_changed(aws, action):
    lab = launch_instance(tags={"tourniquet:protected": "true"})
    exposed = expose(lab)
    before = world(exposed)

    result = contain_one(event(lab, action, mode="approval"))

    assert result["status"] == "skipped_protected"
    assert world(exposed) == before
