"""Release against moto: contain everything, release, compare every changed field with its before-state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from stacks.containment import RELEASE_ACTIONS
from tests.helpers import (
    REGION,
    Ec2Lab,
    ExposedLab,
    Recorded,
    contain_request,
    expose,
    launch_instance,
    member_client,
    moto_client,
    open_incident,
    recording_calls,
)
from tourniquet import errors, store
from tourniquet.containment import ec2 as containment_ec2
from tourniquet.containment.handler import contain, release

pytestmark = pytest.mark.long

INCIDENT = "inc-3c4d5e6f7a8b"
INSTANCE_ACTIONS = [
    ("preserve_evidence", "auto"),
    ("snapshot_volumes", "auto"),
    ("detach_from_scaling", "auto"),
    ("isolate_network", "auto"),
    ("tag_instance", "auto"),
    ("disassociate_eip", "auto"),
    ("quarantine_instance_profile", "auto"),
    ("revoke_role_sessions", "approval"),
    ("stop_instance", "approval"),
]


def four_volume_lab() -> ExposedLab:
    lab = launch_instance()
    ec2 = moto_client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=40)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=lab.instance_id, Device="/dev/sdh")
    return expose(lab)


@pytest.fixture
def exposed(aws: None) -> ExposedLab:
    open_incident(INCIDENT)
    return four_volume_lab()


def contain_all(lab: Ec2Lab) -> None:
    """Every instance action: the automatic ones in one step, then the approved ones in another."""
    target = {"type": "AwsEc2Instance", "id": lab.instance_id, "account": "123456789012", "region": REGION}
    for mode in ("auto", "approval"):
        actions = [action for action, its_mode in INSTANCE_ACTIONS if its_mode == mode]
        results = contain(contain_request(actions, target, incident_id=INCIDENT, mode=mode), None)
        assert [(r["action"], r["verified"]) for r in results] == [(action, True) for action in actions]


def world(exposed: ExposedLab) -> dict[str, Any]:
    """Every field containment changes, read straight from the services."""
    lab = exposed.lab
    ec2, autoscaling, elbv2, elb, iam = (
        moto_client(s) for s in ("ec2", "autoscaling", "elbv2", "elb", "iam")
    )
    instance = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [lab.instance_id]}]
    )["NetworkInterfaces"]
    resources = [lab.instance_id, *(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"])]
    resources += [eni["NetworkInterfaceId"] for eni in enis]
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [lab.instance_id]}]
    )["IamInstanceProfileAssociations"]
    members = autoscaling.describe_auto_scaling_instances(InstanceIds=[lab.instance_id])[
        "AutoScalingInstances"
    ]
    [address] = ec2.describe_addresses(AllocationIds=[exposed.allocation_id])["Addresses"]
    return {
        "state": instance["State"]["Name"],
        "volumes": sorted(
            (m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["DeleteOnTermination"])
            for m in instance["BlockDeviceMappings"]
        ),
        "termination_protection": ec2.describe_instance_attribute(
            InstanceId=lab.instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"],
        "shutdown_behaviour": ec2.describe_instance_attribute(
            InstanceId=lab.instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"],
        "groups_per_eni": {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni["Groups"]] for eni in enis},
        "tags": sorted(
            (t["ResourceId"], t["Key"], t["Value"])
            for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": resources}])["Tags"]
        ),
        "instance_profile": [
            a["IamInstanceProfile"]["Arn"]
            for a in associations
            if a["State"] in ("associating", "associated")
        ],
        "scaling": [(m["AutoScalingGroupName"], m["LifecycleState"]) for m in members],
        "target_groups": {
            arn: sorted(
                (d["Target"]["Id"], d["Target"]["Port"])
                for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            )
            for arn in (exposed.target_group_arn, exposed.ip_target_group_arn)
        },
        "classic": [
            i["InstanceId"]
            for i in elb.describe_load_balancers(LoadBalancerNames=[exposed.load_balancer])[
                "LoadBalancerDescriptions"
            ][0]["Instances"]
        ],
        "address": (address.get("NetworkInterfaceId"), address.get("PrivateIpAddress")),
        "role_policies": iam.list_role_policies(RoleName=exposed.role)["PolicyNames"],
    }


def desired_capacity(group: str) -> int:
    groups = moto_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return int(groups["AutoScalingGroups"][0]["DesiredCapacity"])


def evidence() -> list[str]:
    return [
        s["SnapshotId"]
        for s in moto_client("ec2").describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:incident", "Values": [INCIDENT]}]
        )["Snapshots"]
    ]


def releases() -> list[dict[str, Any]]:
    return [e for e in store.timeline(INCIDENT) if e["kind"] == "release"]


def test_release_returns_every_field_to_its_before_state(exposed):
    before = world(exposed)
    assert len(before["volumes"]) == 4 and len(before["groups_per_eni"]) == 2
    contain_all(exposed.lab)
    contained = world(exposed)
    assert all(contained[field] != before[field] for field in before), "containment changed every field"
    snapshots = evidence()

    result = release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    after = world(exposed)
    for field in before:
        assert after[field] == before[field], field
    assert result["status"] == "released"
    assert sorted(evidence()) == sorted(snapshots) and len(snapshots) == 4


def test_release_keeps_the_replacement_the_group_launched(exposed):
    capacity = desired_capacity(exposed.group)
    contain_all(exposed.lab)

    release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    # Attaching adds one to the desired capacity; scaling back in is the group's own decision.
    assert desired_capacity(exposed.group) == capacity + 1


def test_each_restoration_is_recorded_and_verified_newest_action_first(exposed):
    contain_all(exposed.lab)

    release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    recorded = releases()
    assert [e["action"] for e in recorded] == [action for action, _ in reversed(INSTANCE_ACTIONS)]
    assert {e["actor"] for e in recorded} == {"U0SECLEAD"}
    kept = [e for e in recorded if e["status"] == "kept"]
    assert [e["action"] for e in kept] == ["snapshot_volumes"]
    assert "kept" in kept[0]["detail"]["reason"]
    # Kept on purpose: the record must not read as a failed verification.
    assert kept[0]["verified"] is True
    for event in recorded:
        if event["status"] != "kept":
            assert (event["status"], event["verified"]) == ("done", True), event["action"]
            assert event["request_id"]
            assert event["after"] is not None and event["restored_to"] is not None
    incident = store.get_incident(INCIDENT)
    assert (incident["status"], incident["released_by"]) == ("released", "U0SECLEAD")


def test_release_twice_changes_nothing_the_second_time(exposed):
    contain_all(exposed.lab)
    release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)
    after_first = world(exposed)

    second = release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    assert world(exposed) == after_first
    assert {r["status"] for r in second["restorations"]} == {"unchanged", "kept"}


def test_dry_run_release_lists_the_calls_and_changes_nothing(exposed):
    contain_all(exposed.lab)
    contained = world(exposed)

    result = release({"incident_id": INCIDENT, "actor": "U0SECLEAD", "dry_run": True}, None)

    assert world(exposed) == contained
    assert result["status"] == "planned"
    planned = {r["action"]: r["detail"].get("calls") for r in result["restorations"]}
    assert [c["operation"] for c in planned["detach_from_scaling"]] == [
        "AttachInstances",
        "RegisterTargets",
        "RegisterTargets",
        "RegisterInstancesWithLoadBalancer",
    ]
    assert store.get_incident(INCIDENT)["status"] == "open"


def test_a_failed_restoration_is_recorded_and_the_others_still_run(exposed, monkeypatch):
    before = world(exposed)
    contain_all(exposed.lab)

    def refused(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssociateAddress")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "associate_address", refused)

    with pytest.raises(errors.ReleaseFailed, match="AssociateAddress failed: AccessDenied"):
        release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    after = world(exposed)
    assert after["address"] != before["address"]
    assert after["groups_per_eni"] == before["groups_per_eni"]
    assert after["instance_profile"] == before["instance_profile"]
    [failed] = [e for e in releases() if e["status"] == "failed"]
    assert failed["action"] == "disassociate_eip"
    assert store.get_incident(INCIDENT)["status"] == "open"


def test_a_restoration_that_does_not_hold_fails_verification(exposed, monkeypatch):
    contain_all(exposed.lab)
    quarantine = world(exposed)["groups_per_eni"]

    def ignored(**kwargs: Any) -> dict[str, Any]:
        return {"ResponseMetadata": {"RequestId": "ignored"}}

    monkeypatch.setattr(member_client("ec2", INCIDENT), "modify_network_interface_attribute", ignored)

    with pytest.raises(errors.ReleaseFailed, match=r"isolate_network .* was not restored"):
        release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)
    [event] = [e for e in releases() if e["action"] == "isolate_network"]
    assert event["verified"] is False
    assert world(exposed)["groups_per_eni"] == quarantine


def noting(steps: list[str], step: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, noting ``step`` in ``steps`` each time it is made."""

    def noted(**kwargs: Any) -> Any:
        steps.append(step)
        return call(**kwargs)

    return noted


def test_a_started_instance_runs_before_it_rejoins_its_group_and_target_groups(exposed, monkeypatch):
    contain_all(exposed.lab)
    steps: list[str] = []
    ec2, scaling = member_client("ec2", INCIDENT), member_client("autoscaling", INCIDENT)
    monkeypatch.setattr(ec2, "start_instances", noting(steps, "start", ec2.start_instances))
    monkeypatch.setattr(scaling, "attach_instances", noting(steps, "attach", scaling.attach_instances))
    monkeypatch.setattr(containment_ec2, "wait_until_running", lambda instance_id: steps.append("running"))

    release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    assert steps == ["start", "running", "attach"]


def test_an_instance_that_never_runs_fails_the_release_with_the_reason(exposed, monkeypatch):
    contain_all(exposed.lab)
    monkeypatch.setattr(containment_ec2, "RUNNING_POLLS", 1)
    ec2 = member_client("ec2", INCIDENT)
    monkeypatch.setattr(
        ec2, "start_instances", lambda **_: {"ResponseMetadata": {"RequestId": "kept-stopped"}}
    )

    with pytest.raises(errors.ReleaseFailed, match="did not reach running"):
        release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)
    [stop] = [e for e in releases() if e["action"] == "stop_instance"]
    assert stop["status"] == "failed"


def test_an_unknown_incident_is_not_found(aws):
    with pytest.raises(errors.TargetNotFound, match="inc-missing"):
        release({"incident_id": "inc-missing", "actor": "U0SECLEAD"}, None)


def test_a_release_request_without_an_actor_is_refused(aws):
    with pytest.raises(errors.ReleaseFailed, match="actor"):
        release({"incident_id": INCIDENT}, None)


# IAM


def test_release_of_a_user_key_restores_the_key_and_removes_the_policies_but_not_the_password(aws):
    open_incident(INCIDENT)
    iam = moto_client("iam")
    iam.create_user(UserName="deploy-bot")
    key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="deploy-bot", Password="Correct-Horse-9!")
    target = {
        "type": "AwsIamAccessKey",
        "id": key,
        "account": "123456789012",
        "region": REGION,
        "user_name": "deploy-bot",
        "principal_type": "IAMUser",
    }
    automatic = ["deactivate_access_key", "attach_deny_policy", "revoke_sessions"]
    contain(contain_request(automatic, target, incident_id=INCIDENT), None)
    contain(contain_request(["disable_console_login"], target, incident_id=INCIDENT, mode="approval"), None)

    result = release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    assert iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"][0]["Status"] == "Active"
    assert iam.list_user_policies(UserName="deploy-bot")["PolicyNames"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="deploy-bot")
    statuses = {r["action"]: r["status"] for r in result["restorations"]}
    assert statuses == {
        "disable_console_login": "kept",
        "revoke_sessions": "done",
        "attach_deny_policy": "done",
        "deactivate_access_key": "done",
    }
    [kept] = [e for e in releases() if e["status"] == "kept"]
    assert "cannot be restored" in kept["detail"]["reason"]


def test_release_of_an_assumed_role_removes_only_this_incidents_policy(aws):
    open_incident(INCIDENT)
    iam = moto_client("iam")
    iam.create_role(RoleName="app-runtime", AssumeRolePolicyDocument="{}")
    older = "tourniquet-revoke-sessions-inc-older"
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}'
    iam.put_role_policy(RoleName="app-runtime", PolicyName=older, PolicyDocument=document)
    target = {
        "type": "AwsIamAccessKey",
        "id": "ASIAEXAMPLEEXAMPLE12",
        "account": "123456789012",
        "region": REGION,
        "role_name": "app-runtime",
        "principal_type": "AssumedRole",
    }
    contain(contain_request(["revoke_sessions"], target, incident_id=INCIDENT), None)

    release({"incident_id": INCIDENT, "actor": "U0SECLEAD"}, None)

    assert iam.list_role_policies(RoleName="app-runtime")["PolicyNames"] == [older]


# What release may call: the release role grants exactly RELEASE_ACTIONS (tests/infra).

# Release calls these only from before-states the labs here do not have: a containment tag that had another
# value before (CreateTags), an instance whose profile association vanished meanwhile (Associate) or that had
# none (Disassociate); PassRole is implied by putting a profile back, not a call of its own.
NOT_EXERCISED = {
    "ec2:CreateTags",
    "ec2:AssociateIamInstanceProfile",
    "ec2:DisassociateIamInstanceProfile",
    "iam:PassRole",
}
READ_VERBS = ("Describe", "Get", "List")


# The services release acts on (the table and the logs are the function's other duties).
RELEASED_SERVICES = ("ec2", "autoscaling", "elasticloadbalancing", "iam")


# (IAM service prefix, operation, parameters) of one call.


def recorded_writes(calls: list[Recorded]) -> set[str]:
    return {
        f"{service}:{operation}"
        for service, operation, _ in calls
        if service in RELEASED_SERVICES and not operation.startswith(READ_VERBS)
    }


def implied_writes(calls: list[Recorded]) -> set[str]:
    """Permissions AWS checks against the caller beyond the calls themselves: to start an instance, EC2
    creates a KMS grant as the caller on each customer-managed key that encrypts one of its volumes."""
    started = [
        instance
        for service, operation, params in calls
        if (service, operation) == ("ec2", "StartInstances")
        for instance in params["InstanceIds"]
    ]
    if not started:
        return set()
    volumes = moto_client("ec2").describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": started}]
    )["Volumes"]
    kms = moto_client("kms")
    keys = {volume["KmsKeyId"] for volume in volumes if volume.get("KmsKeyId")}
    managers = {kms.describe_key(KeyId=key)["KeyMetadata"]["KeyManager"] for key in keys}
    return {"kms:CreateGrant"} if "CUSTOMER" in managers else set()


def attach_volume_encrypted_with_a_customer_managed_key(instance_id: str) -> None:
    key = moto_client("kms").create_key(Description="application data")["KeyMetadata"]["Arn"]
    ec2 = moto_client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=10, Encrypted=True, KmsKeyId=key)
    ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance_id, Device="/dev/sdi")


def test_release_makes_only_the_calls_the_release_role_grants(exposed, monkeypatch):
    # Release starts the stopped instance again; one of its volumes is encrypted with the account's own key.
    attach_volume_encrypted_with_a_customer_managed_key(exposed.lab.instance_id)
    contain_all(exposed.lab)
    iam = moto_client("iam")
    iam.create_user(UserName="deploy-bot")
    key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    where = {"type": "AwsIamAccessKey", "account": "123456789012", "region": REGION}
    user = {**where, "id": key, "user_name": "deploy-bot", "principal_type": "IAMUser"}
    role = {**where, "id": "ASIAEXAMPLEEXAMPLE12", "role_name": exposed.role, "principal_type": "AssumedRole"}
    for incident, target, names in [
        ("inc-user00000001", user, ("deactivate_access_key", "attach_deny_policy", "revoke_sessions")),
        ("inc-role00000001", role, ("revoke_sessions",)),
    ]:
        open_incident(incident)
        contain(contain_request(list(names), target, incident_id=incident), None)
    calls: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))

    for incident in (INCIDENT, "inc-user00000001", "inc-role00000001"):
        assert release({"incident_id": incident, "actor": "U0SECLEAD"}, None)["status"] == "released"

    monkeypatch.undo()
    writes = recorded_writes(calls) | implied_writes(calls)
    assert "kms:CreateGrant" in writes
    assert writes <= set(RELEASE_ACTIONS)
    assert writes | NOT_EXERCISED == set(RELEASE_ACTIONS)
