"""The contain handler against moto: each action acts, records, verifies, and is idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import REGION, Ec2Lab, launch_instance, member_client, moto_client, refuse_calls
from tourniquet import errors, store
from tourniquet.containment import ec2 as containment_ec2
from tourniquet.containment.handler import contain

INCIDENT = "inc-0c4f1e2d3a5b"
AUTOMATIC = ["tag_instance", "preserve_evidence", "snapshot_volumes", "isolate_network"]


@pytest.fixture
def ec2(aws: None) -> Any:
    return moto_client("ec2")


@pytest.fixture
def lab(aws: None) -> Ec2Lab:
    return launch_instance()


def event(
    lab: Ec2Lab, action: str, *, mode: str = "auto", dry_run: bool = False, **target: str
) -> dict[str, Any]:
    return {
        "action": action,
        "mode": mode,
        "incident_id": INCIDENT,
        "target": {
            "type": "AwsEc2Instance",
            "id": lab.instance_id,
            "account": "123456789012",
            "region": REGION,
            **target,
        },
        "dry_run": dry_run,
    }


def action_events(kind: str = "action") -> list[dict[str, Any]]:
    return [e for e in store.timeline(INCIDENT) if e["kind"] == kind]


def undo(action: str, lab: Ec2Lab) -> dict[str, Any]:
    records = [r for r in store.undo_records(INCIDENT) if r["sk"] == f"UNDO#{action}#{lab.instance_id}"]
    assert len(records) == 1
    return records[0]["before"]


def eni_groups(ec2: Any, lab: Ec2Lab) -> dict[str, list[str]]:
    interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=list(lab.eni_ids))["NetworkInterfaces"]
    return {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni["Groups"]] for eni in interfaces}


def vpc_groups(ec2: Any, lab: Ec2Lab) -> dict[str, dict[str, Any]]:
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [lab.vpc_id]}])[
        "SecurityGroups"
    ]
    return {g["GroupName"]: g for g in groups}


def evidence_snapshots(ec2: Any) -> list[dict[str, Any]]:
    return ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:incident", "Values": [INCIDENT]}]
    )["Snapshots"]


def tamper_before_verification(monkeypatch: pytest.MonkeyPatch, tamper: Any) -> None:
    """Runs ``tamper`` after the action acted and before the handler re-reads the instance to verify."""
    real = containment_ec2.describe_instance
    calls = {"count": 0}

    def describe(instance_id: str) -> containment_ec2.Instance:
        calls["count"] += 1
        if calls["count"] == 2:
            tamper()
        return real(instance_id)

    monkeypatch.setattr(containment_ec2, "describe_instance", describe)


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


# tag_instance


def test_tag_instance_tags_the_instance_its_volumes_and_interfaces(ec2, lab):
    result = contain(event(lab, "tag_instance"), None)

    assert result["status"] == "done"
    assert result["verified"] is True
    resources = [lab.instance_id, *lab.volume_ids, *lab.eni_ids]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": resources}])["Tags"]
    for resource in resources:
        found = {t["Key"]: t["Value"] for t in tags if t["ResourceId"] == resource}
        assert found["tourniquet:incident"] == INCIDENT
        assert found["tourniquet:status"] == "contained"
    assert undo("tag_instance", lab)["resources"] == [{"id": r, "tags": {}} for r in resources]
    [recorded] = action_events()
    assert recorded["status"] == "done"
    assert recorded["verified"] is True
    assert recorded["mode"] == "auto"
    assert recorded["target"]["id"] == lab.instance_id
    assert recorded["request_id"] == ["request-id"]
    assert recorded["acted_as"] == {
        "account": "123456789012",
        "region": REGION,
        "role": "arn:aws:iam::123456789012:role/TourniquetMember",
        "session": INCIDENT,
    }


def test_tag_instance_twice_changes_nothing_the_second_time(lab):
    contain(event(lab, "tag_instance"), None)
    second = contain(event(lab, "tag_instance"), None)

    assert second["status"] == "unchanged"
    assert second["verified"] is True
    assert [e["status"] for e in action_events()] == ["done", "unchanged"]
    assert action_events()[1]["request_id"] == []


# preserve_evidence


def test_preserve_evidence_protects_the_instance_and_keeps_every_volume(ec2, lab):
    result = contain(event(lab, "preserve_evidence"), None)

    assert (result["status"], result["verified"]) == ("done", True)
    termination = ec2.describe_instance_attribute(
        InstanceId=lab.instance_id, Attribute="disableApiTermination"
    )
    shutdown = ec2.describe_instance_attribute(
        InstanceId=lab.instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert termination["DisableApiTermination"]["Value"] is True
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    mappings = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"
    ]
    assert [m["Ebs"]["DeleteOnTermination"] for m in mappings] == [False, False, False]


def test_preserve_evidence_records_the_original_attributes_first(lab):
    contain(event(lab, "preserve_evidence"), None)

    before = undo("preserve_evidence", lab)
    assert before["disable_api_termination"] is False
    assert before["shutdown_behavior"] == "terminate"
    assert [v["delete_on_termination"] for v in before["volumes"]] == [True, True, False]


def test_preserve_evidence_twice_changes_nothing_the_second_time(lab):
    contain(event(lab, "preserve_evidence"), None)

    assert contain(event(lab, "preserve_evidence"), None)["status"] == "unchanged"


def test_preserve_evidence_detects_protection_removed_before_verification(ec2, lab, monkeypatch):
    tamper_before_verification(
        monkeypatch,
        lambda: ec2.modify_instance_attribute(
            InstanceId=lab.instance_id, DisableApiTermination={"Value": False}
        ),
    )

    with pytest.raises(errors.VerificationFailed, match="termination protection is off"):
        contain(event(lab, "preserve_evidence"), None)
    [recorded] = action_events()
    assert recorded["verified"] is False
    assert recorded["detail"]["problems"] == ["termination protection is off"]


# snapshot_volumes


def test_snapshot_volumes_takes_one_tagged_snapshot_per_volume(ec2, lab):
    result = contain(event(lab, "snapshot_volumes"), None)

    assert (result["status"], result["verified"]) == ("done", True)
    snapshots = evidence_snapshots(ec2)
    assert sorted(s["VolumeId"] for s in snapshots) == sorted(lab.volume_ids)
    devices = dict(zip(lab.volume_ids, lab.devices, strict=True))
    for snapshot in snapshots:
        tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
        assert tags["tourniquet:evidence"] == "true"
        assert tags["tourniquet:instance"] == lab.instance_id
        assert tags["tourniquet:source-volume"] == snapshot["VolumeId"]
        assert tags["tourniquet:device"] == devices[snapshot["VolumeId"]]
    assert {s["volume_id"]: s["snapshot_id"] for s in result["detail"]["snapshots"]} == {
        s["VolumeId"]: s["SnapshotId"] for s in snapshots
    }


def test_snapshot_volumes_twice_takes_no_new_snapshot(ec2, lab):
    contain(event(lab, "snapshot_volumes"), None)
    second = contain(event(lab, "snapshot_volumes"), None)

    assert second["status"] == "unchanged"
    assert len(evidence_snapshots(ec2)) == 3


def test_snapshot_volumes_after_a_partial_run_completes_only_what_is_missing(ec2, lab):
    # A previous attempt snapshotted the first volume and stopped before tagging its source.
    first = ec2.create_snapshot(
        VolumeId=lab.volume_ids[0],
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "tourniquet:incident", "Value": INCIDENT}]}
        ],
    )["SnapshotId"]

    result = contain(event(lab, "snapshot_volumes"), None)

    assert result["verified"] is True
    snapshots = {s["VolumeId"]: s for s in evidence_snapshots(ec2)}
    assert sorted(snapshots) == sorted(lab.volume_ids)
    assert snapshots[lab.volume_ids[0]]["SnapshotId"] == first
    tags = {t["Key"]: t["Value"] for t in snapshots[lab.volume_ids[0]]["Tags"]}
    assert tags["tourniquet:source-volume"] == lab.volume_ids[0]


def test_snapshot_volumes_detects_a_deleted_snapshot(ec2, lab, monkeypatch):
    def delete_one() -> None:
        ec2.delete_snapshot(SnapshotId=evidence_snapshots(ec2)[0]["SnapshotId"])

    tamper_before_verification(monkeypatch, delete_one)

    with pytest.raises(errors.VerificationFailed, match="has no pending or completed snapshot"):
        contain(event(lab, "snapshot_volumes"), None)


# isolate_network


def test_isolate_network_leaves_every_interface_in_the_no_rule_quarantine_group(ec2, lab):
    result = contain(event(lab, "isolate_network"), None)

    assert (result["status"], result["verified"]) == ("done", True)
    groups = vpc_groups(ec2, lab)
    quarantine = groups[f"tourniquet-quarantine-{lab.vpc_id}"]
    assert eni_groups(ec2, lab) == {eni: [quarantine["GroupId"]] for eni in lab.eni_ids}
    assert quarantine["IpPermissions"] == []
    assert quarantine["IpPermissionsEgress"] == []
    assert result["detail"]["quarantine_groups"] == {lab.vpc_id: quarantine["GroupId"]}


def test_isolate_network_untracks_each_interface_before_quarantining_it(ec2, lab):
    contain(event(lab, "isolate_network"), None)

    groups = vpc_groups(ec2, lab)
    untracking = groups[f"tourniquet-untracking-{lab.vpc_id}"]
    quarantine = groups[f"tourniquet-quarantine-{lab.vpc_id}"]
    for rules in (untracking["IpPermissions"], untracking["IpPermissionsEgress"]):
        assert {r["CidrIp"] for p in rules for r in p["IpRanges"] if p["IpProtocol"] == "-1"} == {"0.0.0.0/0"}
        assert {r["CidrIpv6"] for p in rules for r in p["Ipv6Ranges"] if p["IpProtocol"] == "-1"} == {"::/0"}
    steps = [(s["network_interface"], s["step"], s["group"]) for s in action_events("action_step")]
    assert steps == [
        (lab.eni_ids[0], "untrack", untracking["GroupId"]),
        (lab.eni_ids[0], "quarantine", quarantine["GroupId"]),
        (lab.eni_ids[1], "untrack", untracking["GroupId"]),
        (lab.eni_ids[1], "quarantine", quarantine["GroupId"]),
    ]
    assert [s["groups_before"] for s in action_events("action_step")][::2] == [[lab.group_id], [lab.group_id]]


def test_isolate_network_records_the_original_groups_before_changing_any(ec2, lab, monkeypatch):
    seen_when_recorded: list[dict[str, list[str]]] = []
    real_put_undo = store.put_undo

    def put_undo(*args: Any, **kwargs: Any) -> dict[str, Any]:
        seen_when_recorded.append(eni_groups(ec2, lab))
        return real_put_undo(*args, **kwargs)

    monkeypatch.setattr(store, "put_undo", put_undo)
    contain(event(lab, "isolate_network"), None)

    assert seen_when_recorded == [{eni: [lab.group_id] for eni in lab.eni_ids}]
    before = undo("isolate_network", lab)
    assert before["network_interfaces"] == [
        {"id": eni, "vpc_id": lab.vpc_id, "groups": [lab.group_id]} for eni in lab.eni_ids
    ]


def test_isolate_network_twice_creates_no_group_and_changes_nothing(ec2, lab):
    contain(event(lab, "isolate_network"), None)
    groups_after_first = {name: g["GroupId"] for name, g in vpc_groups(ec2, lab).items()}
    steps_after_first = len(action_events("action_step"))

    second = contain(event(lab, "isolate_network"), None)

    assert second["status"] == "unchanged"
    assert {name: g["GroupId"] for name, g in vpc_groups(ec2, lab).items()} == groups_after_first
    assert len(action_events("action_step")) == steps_after_first
    # A retry keeps the first before-state, not the quarantined one.
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]


def test_isolate_network_reuses_the_vpc_groups_for_another_instance(ec2, lab):
    contain(event(lab, "isolate_network"), None)
    second = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=lab.subnet_id)[
        "Instances"
    ][0]["InstanceId"]

    contain({**event(lab, "isolate_network"), "target": {**event(lab, "x")["target"], "id": second}}, None)

    names = [name for name in vpc_groups(ec2, lab) if name.startswith("tourniquet-")]
    assert sorted(names) == [f"tourniquet-quarantine-{lab.vpc_id}", f"tourniquet-untracking-{lab.vpc_id}"]


def test_isolate_network_uses_the_group_a_concurrent_run_created_first(ec2, lab, monkeypatch):
    name = f"tourniquet-quarantine-{lab.vpc_id}"
    theirs = ec2.create_security_group(
        GroupName=name,
        Description="created concurrently",
        VpcId=lab.vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "tourniquet:managed", "Value": "true"}]}
        ],
    )
    real_find = containment_ec2.find_group
    missed = {"quarantine": False}

    def find_group(role: str, vpc_id: str) -> containment_ec2.Group | None:
        # The first look happens just before the other run's group appears.
        if role == "quarantine" and not missed["quarantine"]:
            missed["quarantine"] = True
            return None
        return real_find(role, vpc_id)  # type: ignore[arg-type]

    monkeypatch.setattr(containment_ec2, "find_group", find_group)
    result = contain(event(lab, "isolate_network"), None)

    assert result["verified"] is True
    assert eni_groups(ec2, lab) == {eni: [theirs["GroupId"]] for eni in lab.eni_ids}
    assert vpc_groups(ec2, lab)[name]["IpPermissionsEgress"] == []


def test_isolate_network_refuses_a_group_that_only_borrows_the_name(ec2, lab):
    # Whoever created it controls its rules: using it could leave the instance reachable.
    ec2.create_security_group(
        GroupName=f"tourniquet-quarantine-{lab.vpc_id}", Description="look-alike", VpcId=lab.vpc_id
    )

    with pytest.raises(errors.ContainmentFailed, match="lacks tourniquet:managed=true"):
        contain(event(lab, "isolate_network"), None)
    assert eni_groups(ec2, lab) == {eni: [lab.group_id] for eni in lab.eni_ids}


def test_isolate_network_detects_an_interface_moved_back(ec2, lab, monkeypatch):
    tamper_before_verification(
        monkeypatch,
        lambda: ec2.modify_network_interface_attribute(
            NetworkInterfaceId=lab.eni_ids[1], Groups=[lab.group_id]
        ),
    )

    with pytest.raises(errors.VerificationFailed, match=lab.eni_ids[1]):
        contain(event(lab, "isolate_network"), None)
    [recorded] = action_events()
    assert recorded["status"] == "done"
    assert recorded["verified"] is False
    assert lab.eni_ids[1] in recorded["detail"]["problems"][0]


def test_isolate_network_detects_a_rule_added_to_the_quarantine_group(ec2, lab, monkeypatch):
    def open_quarantine() -> None:
        quarantine = vpc_groups(ec2, lab)[f"tourniquet-quarantine-{lab.vpc_id}"]["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=quarantine,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )

    tamper_before_verification(monkeypatch, open_quarantine)

    with pytest.raises(errors.VerificationFailed, match="still has rules"):
        contain(event(lab, "isolate_network"), None)


# stop_instance


def test_stop_instance_after_approval_stops_it(ec2, lab):
    result = contain(event(lab, "stop_instance", mode="approval"), None)

    assert (result["status"], result["verified"]) == ("done", True)
    state = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]
    assert state in ("stopping", "stopped")
    assert undo("stop_instance", lab) == {"state": "running"}


def test_stop_instance_twice_changes_nothing_the_second_time(lab):
    contain(event(lab, "stop_instance", mode="approval"), None)

    assert contain(event(lab, "stop_instance", mode="approval"), None)["status"] == "unchanged"


def test_stop_instance_never_runs_without_an_approval(ec2, lab):
    with pytest.raises(errors.ContainmentFailed, match="only after an approval"):
        contain(event(lab, "stop_instance", mode="auto"), None)

    state = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]
    assert state == "running"
    assert [e["status"] for e in action_events()] == ["refused"]
    assert store.undo_records(INCIDENT) == []


def test_stop_instance_detects_an_instance_started_again(ec2, lab, monkeypatch):
    tamper_before_verification(monkeypatch, lambda: ec2.start_instances(InstanceIds=[lab.instance_id]))

    with pytest.raises(errors.VerificationFailed, match="expected stopping or stopped"):
        contain(event(lab, "stop_instance", mode="approval"), None)


# guards shared by every action


def ec2_state(ec2: Any, lab: Ec2Lab) -> dict[str, Any]:
    instance = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]
    return {
        "instance": {k: instance[k] for k in ("State", "BlockDeviceMappings", "NetworkInterfaces")},
        "tags": ec2.describe_tags()["Tags"],
        "groups": ec2.describe_security_groups()["SecurityGroups"],
        "snapshots": ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"],
        "attributes": [
            ec2.describe_instance_attribute(InstanceId=lab.instance_id, Attribute=a)
            for a in ("disableApiTermination", "instanceInitiatedShutdownBehavior")
        ],
    }


def _without_metadata(state: dict[str, Any]) -> dict[str, Any]:
    for attribute in state["attributes"]:
        attribute.pop("ResponseMetadata")
    return state


@pytest.mark.parametrize("action", [*AUTOMATIC, "stop_instance"])
def test_dry_run_records_the_planned_calls_and_changes_nothing(ec2, lab, action):
    before = _without_metadata(ec2_state(ec2, lab))

    result = contain(event(lab, action, mode="approval", dry_run=True), None)

    assert _without_metadata(ec2_state(ec2, lab)) == before
    assert (result["status"], result["verified"]) == ("planned", False)
    assert result["detail"]["calls"]
    [recorded] = action_events()
    assert recorded["status"] == "planned"
    assert recorded["detail"]["calls"] == result["detail"]["calls"]
    assert store.undo_records(INCIDENT) == []


def test_dry_run_of_isolation_lists_each_swap(lab):
    result = contain(event(lab, "isolate_network", dry_run=True), None)

    operations = [c["operation"] for c in result["detail"]["calls"]]
    assert operations.count("CreateSecurityGroup") == 2
    assert "RevokeSecurityGroupEgress" in operations
    swaps = [
        c["params"] for c in result["detail"]["calls"] if c["operation"] == "ModifyNetworkInterfaceAttribute"
    ]
    quarantine = f"<tourniquet-quarantine-{lab.vpc_id}>"
    untracking = f"<tourniquet-untracking-{lab.vpc_id}>"
    assert swaps == [
        {"NetworkInterfaceId": lab.eni_ids[0], "Groups": [untracking]},
        {"NetworkInterfaceId": lab.eni_ids[0], "Groups": [quarantine]},
        {"NetworkInterfaceId": lab.eni_ids[1], "Groups": [untracking]},
        {"NetworkInterfaceId": lab.eni_ids[1], "Groups": [quarantine]},
    ]


def test_the_deployment_wide_dry_run_setting_wins(ec2, lab, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "true")

    result = contain(event(lab, "tag_instance"), None)

    assert result["status"] == "planned"
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": ["tourniquet:incident"]}])["Tags"] == []


@pytest.mark.parametrize(
    ("action", "mode"), [*((action, "auto") for action in AUTOMATIC), ("stop_instance", "approval")]
)
def test_protected_instance_is_never_changed(ec2, aws, action, mode):
    lab = launch_instance(tags={"tourniquet:protected": "true"})
    before = _without_metadata(ec2_state(ec2, lab))

    result = contain(event(lab, action, mode=mode), None)

    assert (result["status"], result["verified"]) == ("skipped_protected", False)
    assert "tourniquet:protected" in result["detail"]["reason"]
    assert _without_metadata(ec2_state(ec2, lab)) == before
    [recorded] = action_events()
    assert recorded["status"] == "skipped_protected"
    assert "tourniquet:protected" in recorded["detail"]["reason"]


def test_an_approved_lift_takes_a_suspicious_protection_off_and_lets_the_next_actions_act(ec2, aws):
    lab = launch_instance(tags={"tourniquet:protected": "true"})

    lifted = contain(event(lab, "lift_protection", mode="approval"), None)
    isolated = contain(event(lab, "isolate_network", mode="approval"), None)

    assert (lifted["status"], lifted["verified"]) == ("done", True)
    assert undo("lift_protection", lab) == {"tag_key": "tourniquet:protected", "value": "true"}
    assert (isolated["status"], isolated["verified"]) == ("done", True)
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])["Tags"]
    assert "tourniquet:protected" not in {tag["Key"] for tag in tags}


def test_lifting_a_protection_never_runs_without_an_approval(ec2, aws):
    lab = launch_instance(tags={"tourniquet:protected": "true"})

    with pytest.raises(errors.ContainmentFailed, match="runs only after an approval"):
        contain(event(lab, "lift_protection"), None)

    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])["Tags"]
    assert {tag["Key"]: tag["Value"] for tag in tags}["tourniquet:protected"] == "true"


def test_unknown_action_is_a_clear_containment_failure(lab):
    with pytest.raises(errors.ContainmentFailed, match="unknown containment action 'terminate_instance'"):
        contain(event(lab, "terminate_instance"), None)


def test_malformed_request_is_a_containment_failure_that_names_the_field(lab):
    bad = event(lab, "tag_instance")
    bad["target"]["id"] = "i-$(reboot)"

    with pytest.raises(errors.ContainmentFailed, match=r"target\.id") as raised:
        contain(bad, None)
    assert "reboot" not in str(raised.value)


def test_missing_instance_is_target_not_found(lab):
    missing = event(lab, "tag_instance", id="i-0123456789abcdef0")

    with pytest.raises(errors.TargetNotFound):
        contain(missing, None)


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ({"region": "ap-south-1"}, "ap-south-1 is not a region Tourniquet acts in"),
        ({"account": "999999999999"}, "account 999999999999 is outside"),
    ],
)
def test_a_target_outside_the_scope_is_refused_and_nothing_is_called_there(lab, where, reason):
    with pytest.raises(errors.OutOfScope, match=reason):
        contain(event(lab, "tag_instance", **where), None)

    (refused,) = action_events()
    assert refused["status"] == "refused"
    assert reason in refused["detail"]["reason"]
    tags = moto_client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])
    assert tags["Tags"] == []


def test_a_target_in_another_region_of_the_scope_is_contained_in_that_region(aws):
    lab = launch_instance(region="us-east-1")

    result = contain(event(lab, "tag_instance", region="us-east-1"), None)

    assert (result["status"], result["verified"]) == ("done", True)
    tags = moto_client("ec2", "us-east-1").describe_tags(
        Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}]
    )["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["tourniquet:incident"] == INCIDENT


def test_throttled_read_becomes_throttled(lab, monkeypatch):
    def throttled(**_: Any) -> None:
        raise client_error("RequestLimitExceeded", "DescribeInstances")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "describe_instances", throttled)

    with pytest.raises(errors.Throttled, match="RequestLimitExceeded"):
        contain(event(lab, "isolate_network"), None)


def test_throttled_change_becomes_throttled_after_the_undo_record(lab, monkeypatch):
    def throttled(**_: Any) -> None:
        raise client_error("RequestLimitExceeded", "ModifyNetworkInterfaceAttribute")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "modify_network_interface_attribute", throttled)

    with pytest.raises(errors.Throttled):
        contain(event(lab, "isolate_network"), None)
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]


def test_refused_call_becomes_containment_failed_with_its_code(lab, monkeypatch):
    def refused(**_: Any) -> None:
        raise client_error("UnauthorizedOperation", "CreateTags")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "create_tags", refused)

    with pytest.raises(errors.ContainmentFailed, match="UnauthorizedOperation") as raised:
        contain(event(lab, "tag_instance"), None)
    assert isinstance(raised.value.__cause__, ClientError)


def test_result_follows_the_contract(lab):
    result = contain(event(lab, "tag_instance"), None)

    assert set(result) == {"action", "target", "status", "verified", "detail"}
    assert result["action"] == "tag_instance"
    assert result["target"] == event(lab, "tag_instance")["target"]


def test_a_member_role_that_cannot_be_assumed_fails_the_action_with_the_plain_reason(lab, monkeypatch):
    monkeypatch.setenv("SCOPE_ACCOUNTS", "123456789012,111122223333")
    refuse_calls(monkeypatch, "AssumeRole", "AccessDenied")

    with pytest.raises(errors.MemberRoleUnavailable) as raised:
        contain(event(lab, "tag_instance", account="111122223333"), None)

    assert str(raised.value) == (
        "Tourniquet's member role TourniquetMember is missing in account 111122223333 or does not trust "
        "this deployment: deploy the member stack there"
    )
