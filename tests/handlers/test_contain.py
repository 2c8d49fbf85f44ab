"""The contain handler against moto: each action acts, records, verifies, and is idempotent."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.helpers import (
    REGION,
    TEST_SCOPE,
    Ec2Lab,
    Recorded,
    contain_one,
    contain_request,
    launch_instance,
    member_client,
    moto_client,
    recording_calls,
    refuse_calls,
)
from tourniquet import errors, store
from tourniquet.containment import ec2 as containment_ec2
from tourniquet.containment import handler
from tourniquet.diagnostics import ec2 as diagnostics_ec2

pytestmark = pytest.mark.long

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
    return steps(lab, [action], mode=mode, dry_run=dry_run, **target)


def steps(
    lab: Ec2Lab, actions: list[str], *, mode: str = "auto", dry_run: bool = False, **target: str
) -> dict[str, Any]:
    where = {"type": "AwsEc2Instance", "id": lab.instance_id, "account": "123456789012", "region": REGION}
    return contain_request(actions, {**where, **target}, incident_id=INCIDENT, mode=mode, dry_run=dry_run)


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
    result = contain_one(event(lab, "tag_instance"))

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
    contain_one(event(lab, "tag_instance"))
    second = contain_one(event(lab, "tag_instance"))

    assert second["status"] == "unchanged"
    assert second["verified"] is True
    assert [e["status"] for e in action_events()] == ["done", "unchanged"]
    assert action_events()[1]["request_id"] == []


# preserve_evidence


def test_preserve_evidence_protects_the_instance_and_keeps_every_volume(ec2, lab):
    result = contain_one(event(lab, "preserve_evidence"))

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
    contain_one(event(lab, "preserve_evidence"))

    before = undo("preserve_evidence", lab)
    assert before["disable_api_termination"] is False
    assert before["shutdown_behavior"] == "terminate"
    assert [v["delete_on_termination"] for v in before["volumes"]] == [True, True, False]


def test_preserve_evidence_twice_changes_nothing_the_second_time(lab):
    contain_one(event(lab, "preserve_evidence"))

    assert contain_one(event(lab, "preserve_evidence"))["status"] == "unchanged"


def test_preserve_evidence_detects_protection_removed_before_verification(ec2, lab, monkeypatch):
    tamper_before_verification(
        monkeypatch,
        lambda: ec2.modify_instance_attribute(
            InstanceId=lab.instance_id, DisableApiTermination={"Value": False}
        ),
    )

    with pytest.raises(errors.VerificationFailed, match="termination protection is off"):
        contain_one(event(lab, "preserve_evidence"))
    [recorded] = action_events()
    assert recorded["verified"] is False
    assert recorded["detail"]["problems"] == ["termination protection is off"]


# snapshot_volumes


def test_snapshot_volumes_takes_one_tagged_snapshot_per_volume(ec2, lab):
    result = contain_one(event(lab, "snapshot_volumes"))

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
    contain_one(event(lab, "snapshot_volumes"))
    second = contain_one(event(lab, "snapshot_volumes"))

    assert second["status"] == "unchanged"
    assert len(evidence_snapshots(ec2)) == 3


def test_snapshot_volumes_after_a_partial_run_completes_only_what_is_missing(ec2, lab):
    # A previous attempt recorded the before-state, snapshotted the first volume and stopped before tagging
    # its source.
    volumes = [{"volume_id": v, "device": d} for v, d in zip(lab.volume_ids, lab.devices, strict=True)]
    store.put_new(
        [
            store.undo_item(
                INCIDENT,
                "snapshot_volumes",
                lab.instance_id,
                {"volumes": volumes, "snapshots": []},
                scope=TEST_SCOPE,
            )
        ]
    )
    first = ec2.create_snapshot(
        VolumeId=lab.volume_ids[0],
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "tourniquet:incident", "Value": INCIDENT}]}
        ],
    )["SnapshotId"]

    result = contain_one(event(lab, "snapshot_volumes"))

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
        contain_one(event(lab, "snapshot_volumes"))


# isolate_network


def test_isolate_network_leaves_every_interface_in_the_no_rule_quarantine_group(ec2, lab):
    result = contain_one(event(lab, "isolate_network"))

    assert (result["status"], result["verified"]) == ("done", True)
    groups = vpc_groups(ec2, lab)
    quarantine = groups[f"tourniquet-quarantine-{lab.vpc_id}"]
    assert eni_groups(ec2, lab) == {eni: [quarantine["GroupId"]] for eni in lab.eni_ids}
    assert quarantine["IpPermissions"] == []
    assert quarantine["IpPermissionsEgress"] == []
    assert result["detail"]["quarantine_groups"] == {lab.vpc_id: quarantine["GroupId"]}


def test_isolate_network_untracks_each_interface_before_quarantining_it(ec2, lab):
    contain_one(event(lab, "isolate_network"))

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
    real_put_new = store.put_new

    def put_new(items: list[dict[str, Any]]) -> set[str]:
        if any(item["sk"].startswith("UNDO#") for item in items):
            seen_when_recorded.append(eni_groups(ec2, lab))
        return real_put_new(items)

    monkeypatch.setattr(store, "put_new", put_new)
    contain_one(event(lab, "isolate_network"))

    assert seen_when_recorded == [{eni: [lab.group_id] for eni in lab.eni_ids}]
    before = undo("isolate_network", lab)
    assert before["network_interfaces"] == [
        {"id": eni, "vpc_id": lab.vpc_id, "groups": [lab.group_id]} for eni in lab.eni_ids
    ]


def test_isolate_network_twice_creates_no_group_and_changes_nothing(ec2, lab):
    contain_one(event(lab, "isolate_network"))
    groups_after_first = {name: g["GroupId"] for name, g in vpc_groups(ec2, lab).items()}
    steps_after_first = len(action_events("action_step"))

    second = contain_one(event(lab, "isolate_network"))

    assert second["status"] == "unchanged"
    assert {name: g["GroupId"] for name, g in vpc_groups(ec2, lab).items()} == groups_after_first
    assert len(action_events("action_step")) == steps_after_first
    # A retry keeps the first before-state, not the quarantined one.
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]


def test_isolate_network_reuses_the_vpc_groups_for_another_instance(ec2, lab):
    contain_one(event(lab, "isolate_network"))
    second = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=lab.subnet_id)[
        "Instances"
    ][0]["InstanceId"]

    contain_one(event(lab, "isolate_network", id=second))

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
    real_find = containment_ec2.find_groups
    missed = {"quarantine": False}

    def find_groups(vpc_ids: list[str]) -> dict[tuple[str, str], containment_ec2.Group]:
        # The first look happens just before the other run's group appears.
        found = real_find(vpc_ids)
        if not missed["quarantine"]:
            missed["quarantine"] = True
            found.pop(("quarantine", lab.vpc_id))
        return found  # type: ignore[return-value]

    monkeypatch.setattr(containment_ec2, "find_groups", find_groups)
    result = contain_one(event(lab, "isolate_network"))

    assert result["verified"] is True
    assert eni_groups(ec2, lab) == {eni: [theirs["GroupId"]] for eni in lab.eni_ids}
    assert vpc_groups(ec2, lab)[name]["IpPermissionsEgress"] == []


def test_isolate_network_refuses_a_group_that_only_borrows_the_name(ec2, lab):
    # Whoever created it controls its rules: using it could leave the instance reachable.
    ec2.create_security_group(
        GroupName=f"tourniquet-quarantine-{lab.vpc_id}", Description="look-alike", VpcId=lab.vpc_id
    )

    with pytest.raises(errors.ContainmentFailed, match="lacks tourniquet:managed=true"):
        contain_one(event(lab, "isolate_network"))
    assert eni_groups(ec2, lab) == {eni: [lab.group_id] for eni in lab.eni_ids}


def test_isolate_network_detects_an_interface_moved_back(ec2, lab, monkeypatch):
    tamper_before_verification(
        monkeypatch,
        lambda: ec2.modify_network_interface_attribute(
            NetworkInterfaceId=lab.eni_ids[1], Groups=[lab.group_id]
        ),
    )

    with pytest.raises(errors.VerificationFailed, match=lab.eni_ids[1]):
        contain_one(event(lab, "isolate_network"))
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
        contain_one(event(lab, "isolate_network"))


# a step of several actions


CHAIN = ["preserve_evidence", "snapshot_volumes", "isolate_network", "tag_instance"]


def instance_diagnostic(lab: Ec2Lab, **changes: Any) -> dict[str, Any]:
    """The ec2_instance diagnostic of ``lab`` as the Diagnose state hands it on."""
    ec2 = moto_client("ec2")
    [raw] = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"]
    volumes = ec2.describe_volumes(VolumeIds=list(lab.volume_ids))["Volumes"]
    summary = diagnostics_ec2.summarize(raw, None, volumes, "tourniquet:protected")
    return {"check": "ec2_instance", "status": "ok", "summary": {**summary, **changes}}


def test_a_step_records_every_before_state_before_its_first_change(ec2, lab, monkeypatch):
    seen: list[tuple[list[str], dict[str, list[str]], bool, int, bool]] = []
    real_put_new = store.put_new

    def put_new(items: list[dict[str, Any]]) -> set[str]:
        undo_for = sorted(item["action"] for item in items if item["sk"].startswith("UNDO#"))
        if undo_for:
            protection = ec2.describe_instance_attribute(
                InstanceId=lab.instance_id, Attribute="disableApiTermination"
            )["DisableApiTermination"]["Value"]
            tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])["Tags"]
            marked = any(tag["Key"] == "tourniquet:incident" for tag in tags)
            seen.append((undo_for, eni_groups(ec2, lab), protection, len(evidence_snapshots(ec2)), marked))
        return real_put_new(items)

    monkeypatch.setattr(store, "put_new", put_new)
    results = handler.contain(steps(lab, CHAIN), None)

    # The undo records of the way to isolation, in one write before anything changed; the mark's, after
    # isolation and before the mark.
    quarantine = vpc_groups(ec2, lab)[f"tourniquet-quarantine-{lab.vpc_id}"]["GroupId"]
    assert seen == [
        (sorted(CHAIN[:3]), {eni: [lab.group_id] for eni in lab.eni_ids}, False, 0, False),
        (["tag_instance"], {eni: [quarantine] for eni in lab.eni_ids}, True, 3, False),
    ]
    assert sorted(record["action"] for record in store.undo_records(INCIDENT)) == sorted(CHAIN)
    assert [(r["action"], r["status"], r["verified"]) for r in results] == [
        (action, "done", True) for action in CHAIN
    ]
    assert sorted((e["action"], e["verified"]) for e in action_events()) == sorted((a, True) for a in CHAIN)
    assert [s["step"] for s in action_events("action_step")] == ["untrack", "quarantine"] * 2


def test_isolation_is_proved_and_recorded_before_the_labels_and_proofs_of_the_steps_before_it(
    ec2, lab, monkeypatch
):
    calls: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))

    handler.contain(steps(lab, CHAIN), None)

    order = [(operation, params) for _, operation, params in calls]
    isolated = max(
        i for i, (operation, _) in enumerate(order) if operation == "ModifyNetworkInterfaceAttribute"
    )
    recorded = next(
        i for i, (operation, params) in enumerate(order) if operation == "TransactWriteItems" and i > isolated
    )
    written = [put["Put"]["Item"] for put in order[recorded][1]["TransactItems"]]
    assert [(item["kind"], item.get("action")) for item in written if item["kind"] == "action"] == [
        ("action", "isolate_network")
    ]
    later = [operation for operation, _ in order[recorded + 1 :]]
    # The snapshots were requested before isolation; their labels and every other proof come after it.
    assert "CreateSnapshots" in [operation for operation, _ in order[:isolated]]
    assert {"CreateTags", "DescribeSnapshots", "DescribeInstanceAttribute", "DescribeTags"} <= set(later)
    # Each snapshot is read back by its id, not found by a scan of the account's snapshots.
    snapshot_reads = [params for operation, params in order if operation == "DescribeSnapshots"]
    assert [sorted(params) for params in snapshot_reads] == [["SnapshotIds"]]


def test_a_step_handed_the_instance_diagnostic_reads_the_instance_only_to_prove_its_changes(
    ec2, lab, monkeypatch
):
    request = contain_request(
        ["isolate_network"],
        steps(lab, [])["plan"]["target"],
        incident_id=INCIDENT,
        diagnostics=[instance_diagnostic(lab)],
    )
    calls: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))

    [result] = handler.contain(request, None)

    assert (result["status"], result["verified"]) == ("done", True)
    operations = [operation for _, operation, _ in calls]
    assert operations.count("DescribeInstances") == 1
    assert operations.index("DescribeInstances") > operations.index("ModifyNetworkInterfaceAttribute")
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]


def test_a_diagnostic_of_another_instance_is_not_taken_for_the_target(ec2, lab, monkeypatch):
    request = contain_request(
        ["isolate_network"],
        steps(lab, [])["plan"]["target"],
        incident_id=INCIDENT,
        diagnostics=[instance_diagnostic(lab, instance_id="i-0123456789abcdef0")],
    )
    calls: list[Recorded] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", recording_calls(calls))

    handler.contain(request, None)

    assert [operation for _, operation, _ in calls].count("DescribeInstances") == 2


def test_the_automatic_step_records_its_plan_with_the_diagnostics_it_was_made_from(lab):
    diagnostic = instance_diagnostic(lab)
    request = contain_request(
        ["tag_instance"], steps(lab, [])["plan"]["target"], incident_id=INCIDENT, diagnostics=[diagnostic]
    )

    handler.contain(request, None)
    handler.contain(steps(lab, ["stop_instance"], mode="approval"), None)

    [planned] = action_events("planned")
    assert planned["playbook"] == "test"
    assert planned["automatic"] == ["tag_instance"]
    assert [(d["check"], d["status"]) for d in planned["diagnostics"]] == [("ec2_instance", "ok")]
    assert planned["diagnostics"][0]["summary"]["instance_id"] == lab.instance_id


def test_a_plan_without_automatic_actions_is_still_recorded(lab):
    assert handler.contain(steps(lab, []), None) == []

    [planned] = action_events("planned")
    assert planned["automatic"] == []
    assert store.undo_records(INCIDENT) == []


def test_a_retried_step_keeps_its_first_undo_records_and_changes_nothing_more(ec2, lab):
    handler.contain(steps(lab, CHAIN), None)
    snapshots = sorted(s["SnapshotId"] for s in evidence_snapshots(ec2))

    again = handler.contain(steps(lab, CHAIN), None)

    assert [(r["action"], r["status"], r["verified"]) for r in again] == [
        (action, "unchanged", True) for action in CHAIN
    ]
    assert sorted(s["SnapshotId"] for s in evidence_snapshots(ec2)) == snapshots
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]
    assert undo("preserve_evidence", lab)["disable_api_termination"] is False


def test_an_approved_lift_and_the_actions_after_it_run_in_one_step(ec2, aws):
    lab = launch_instance(tags={"tourniquet:protected": "true"})

    results = handler.contain(steps(lab, ["lift_protection", "isolate_network"], mode="approval"), None)

    assert [(r["action"], r["status"], r["verified"]) for r in results] == [
        ("lift_protection", "done", True),
        ("isolate_network", "done", True),
    ]
    quarantine = vpc_groups(ec2, lab)[f"tourniquet-quarantine-{lab.vpc_id}"]["GroupId"]
    assert eni_groups(ec2, lab) == {eni: [quarantine] for eni in lab.eni_ids}


def test_a_failed_change_still_proves_and_records_the_changes_made_before_it(ec2, lab, monkeypatch):
    def refused(**_: Any) -> None:
        raise client_error("UnauthorizedOperation", "ModifyNetworkInterfaceAttribute")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "modify_network_interface_attribute", refused)

    with pytest.raises(errors.ContainmentFailed, match="UnauthorizedOperation"):
        handler.contain(steps(lab, CHAIN), None)

    recorded = {e["action"]: (e["status"], e["verified"]) for e in action_events()}
    assert recorded == {"preserve_evidence": ("done", True), "snapshot_volumes": ("done", True)}
    assert len(evidence_snapshots(ec2)) == 3


# stop_instance


def test_stop_instance_after_approval_stops_it(ec2, lab):
    result = contain_one(event(lab, "stop_instance", mode="approval"))

    assert (result["status"], result["verified"]) == ("done", True)
    state = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]
    assert state in ("stopping", "stopped")
    assert undo("stop_instance", lab) == {"state": "running"}


def test_stop_instance_twice_changes_nothing_the_second_time(lab):
    contain_one(event(lab, "stop_instance", mode="approval"))

    assert contain_one(event(lab, "stop_instance", mode="approval"))["status"] == "unchanged"


def test_stop_instance_never_runs_without_an_approval(ec2, lab):
    with pytest.raises(errors.ContainmentFailed, match="only after an approval"):
        contain_one(event(lab, "stop_instance", mode="auto"))

    state = ec2.describe_instances(InstanceIds=[lab.instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]
    assert state == "running"
    assert [e["status"] for e in action_events()] == ["refused"]
    assert store.undo_records(INCIDENT) == []


def test_stop_instance_detects_an_instance_started_again(ec2, lab, monkeypatch):
    tamper_before_verification(monkeypatch, lambda: ec2.start_instances(InstanceIds=[lab.instance_id]))

    with pytest.raises(errors.VerificationFailed, match="expected stopping or stopped"):
        contain_one(event(lab, "stop_instance", mode="approval"))


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

    result = contain_one(event(lab, action, mode="approval", dry_run=True))

    assert _without_metadata(ec2_state(ec2, lab)) == before
    assert (result["status"], result["verified"]) == ("planned", False)
    assert result["detail"]["calls"]
    [recorded] = action_events()
    assert recorded["status"] == "planned"
    assert recorded["detail"]["calls"] == result["detail"]["calls"]
    assert store.undo_records(INCIDENT) == []


def test_dry_run_of_isolation_lists_each_swap(lab):
    result = contain_one(event(lab, "isolate_network", dry_run=True))

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

    result = contain_one(event(lab, "tag_instance"))

    assert result["status"] == "planned"
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": ["tourniquet:incident"]}])["Tags"] == []


@pytest.mark.parametrize(
    ("action", "mode"), [*((action, "auto") for action in AUTOMATIC), ("stop_instance", "approval")]
)
def test_protected_instance_is_never_changed(ec2, aws, action, mode):
    lab = launch_instance(tags={"tourniquet:protected": "true"})
    before = _without_metadata(ec2_state(ec2, lab))

    result = contain_one(event(lab, action, mode=mode))

    assert (result["status"], result["verified"]) == ("skipped_protected", False)
    assert "tourniquet:protected" in result["detail"]["reason"]
    assert _without_metadata(ec2_state(ec2, lab)) == before
    [recorded] = action_events()
    assert recorded["status"] == "skipped_protected"
    assert "tourniquet:protected" in recorded["detail"]["reason"]


def test_an_approved_lift_takes_a_suspicious_protection_off_and_lets_the_next_actions_act(ec2, aws):
    lab = launch_instance(tags={"tourniquet:protected": "true"})

    lifted = contain_one(event(lab, "lift_protection", mode="approval"))
    isolated = contain_one(event(lab, "isolate_network", mode="approval"))

    assert (lifted["status"], lifted["verified"]) == ("done", True)
    assert undo("lift_protection", lab) == {"tag_key": "tourniquet:protected", "value": "true"}
    assert (isolated["status"], isolated["verified"]) == ("done", True)
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])["Tags"]
    assert "tourniquet:protected" not in {tag["Key"] for tag in tags}


def test_lifting_a_protection_never_runs_without_an_approval(ec2, aws):
    lab = launch_instance(tags={"tourniquet:protected": "true"})

    with pytest.raises(errors.ContainmentFailed, match="runs only after an approval"):
        contain_one(event(lab, "lift_protection"))

    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])["Tags"]
    assert {tag["Key"]: tag["Value"] for tag in tags}["tourniquet:protected"] == "true"


def test_unknown_action_is_a_clear_containment_failure(lab):
    with pytest.raises(errors.ContainmentFailed, match="unknown containment action 'terminate_instance'"):
        contain_one(event(lab, "terminate_instance"))


def test_malformed_request_is_a_containment_failure_that_names_the_field(lab):
    bad = event(lab, "tag_instance")
    bad["plan"]["target"]["id"] = "i-$(reboot)"

    with pytest.raises(errors.ContainmentFailed, match=r"target\.id") as raised:
        contain_one(bad)
    assert "reboot" not in str(raised.value)


def test_missing_instance_is_target_not_found(lab):
    missing = event(lab, "tag_instance", id="i-0123456789abcdef0")

    with pytest.raises(errors.TargetNotFound):
        contain_one(missing)


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ({"region": "ap-south-1"}, "ap-south-1 is not a region Tourniquet acts in"),
        ({"account": "999999999999"}, "account 999999999999 is outside"),
    ],
)
def test_a_target_outside_the_scope_is_refused_and_nothing_is_called_there(lab, where, reason):
    with pytest.raises(errors.OutOfScope, match=reason):
        contain_one(event(lab, "tag_instance", **where))

    (refused,) = action_events()
    assert refused["status"] == "refused"
    assert reason in refused["detail"]["reason"]
    tags = moto_client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [lab.instance_id]}])
    assert tags["Tags"] == []


def test_a_target_in_another_region_of_the_scope_is_contained_in_that_region(aws):
    lab = launch_instance(region="us-east-1")

    result = contain_one(event(lab, "tag_instance", region="us-east-1"))

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
        contain_one(event(lab, "isolate_network"))


def test_throttled_change_becomes_throttled_after_the_undo_record(lab, monkeypatch):
    def throttled(**_: Any) -> None:
        raise client_error("RequestLimitExceeded", "ModifyNetworkInterfaceAttribute")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "modify_network_interface_attribute", throttled)

    with pytest.raises(errors.Throttled):
        contain_one(event(lab, "isolate_network"))
    assert undo("isolate_network", lab)["network_interfaces"][0]["groups"] == [lab.group_id]


def test_refused_call_becomes_containment_failed_with_its_code(lab, monkeypatch):
    def refused(**_: Any) -> None:
        raise client_error("UnauthorizedOperation", "CreateTags")

    monkeypatch.setattr(member_client("ec2", INCIDENT), "create_tags", refused)

    with pytest.raises(errors.ContainmentFailed, match="UnauthorizedOperation") as raised:
        contain_one(event(lab, "tag_instance"))
    assert isinstance(raised.value.__cause__, ClientError)


def test_result_follows_the_contract(lab):
    result = contain_one(event(lab, "tag_instance"))

    assert set(result) == {"action", "target", "status", "verified", "detail"}
    assert result["action"] == "tag_instance"
    assert result["target"] == event(lab, "tag_instance")["plan"]["target"]


def test_a_member_role_that_cannot_be_assumed_fails_the_action_with_the_plain_reason(lab, monkeypatch):
    monkeypatch.setenv("SCOPE_ACCOUNTS", "123456789012,111122223333")
    refuse_calls(monkeypatch, "AssumeRole", "AccessDenied")

    with pytest.raises(errors.MemberRoleUnavailable) as raised:
        contain_one(event(lab, "tag_instance", account="111122223333"))

    assert str(raised.value) == (
        "Tourniquet's member role TourniquetMember is missing in account 111122223333 or does not trust "
        "this deployment: deploy the member stack there"
    )
