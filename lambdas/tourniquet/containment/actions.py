"""The containment actions and their registry.

Each action reads the state it will change (a JSON-ready dict: the undo record and the proof), plans the
exact calls that would bring its target to the contained state (none when it is already there), applies
them, and checks a fresh read. Planning from the current state is what makes every action idempotent.
Release runs the same loop backwards: from the undo record and a fresh read it plans the calls that return
the target to its recorded before-state, and checks that a fresh read matches it.

The runner (``runner.py``) runs a step's actions together, in rounds; three hooks serve it. ``reread`` is
the fresh read after acting, which may take from the before-state what the action knows it left alone;
``finish`` makes the calls that complete an action once its round's urgent change is made (labels on what
``apply`` created); ``cuts_off`` marks the change that is proved and recorded the moment it is made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from botocore.exceptions import ClientError

from tourniquet import aws, errors
from tourniquet.containment import ec2
from tourniquet.containment.calls import execute
from tourniquet.containment.ec2 import (
    TAG_DEVICE,
    TAG_EVIDENCE,
    TAG_INCIDENT,
    TAG_INSTANCE,
    TAG_SOURCE_VOLUME,
    TAG_STATUS,
    GroupRole,
    Instance,
)
from tourniquet.containment.model import Call
from tourniquet.state import Scope

_SNAPSHOT_OK_STATES = frozenset({"pending", "completed"})
_MAX_PARALLEL_SNAPSHOTS = 8
_ROLES = ec2.GROUP_ROLES


S = TypeVar("S")


@dataclass(frozen=True)
class Context:
    incident_id: str
    target_id: str
    """The target's own id: the instance id, or the access key id for an IAM principal."""
    record_step: Callable[[dict[str, Any]], None]
    """Appends one intermediate step to the timeline, so a multi-step action leaves a trace per step."""
    scope: Scope
    """The target's account and region: where every call of the action goes."""
    protected_tag_key: str = "tourniquet:protected"
    """Resources it names (a role behind the target, say) are never changed either."""
    first_attempt: bool = False
    """Nothing of this step has acted yet: the runner reads so before a step's undo records are written, and
    reads again if they turn out to exist. What an action only ever creates (evidence snapshots) cannot
    exist then, so it need not be looked for."""


@dataclass
class Applied:
    request_ids: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    carry: dict[str, Any] = field(default_factory=dict)
    """What ``apply`` learned that ``finish`` and ``reread`` need (ids it created, what it changed); not
    recorded."""


class Action(ABC, Generic[S]):
    """One containment action on a subject of type ``S`` (an instance, or an IAM principal)."""

    name: ClassVar[str]
    destructive: ClassVar[bool] = False
    target_type: ClassVar[str] = "AwsEc2Instance"
    kept: ClassVar[str | None] = None
    """Why release leaves this action's effect in place; None when release restores the before-state."""
    lifts_protection: ClassVar[bool] = False
    """Acts on a target that carries the protected tag (every other action skips such a target)."""
    cuts_off: ClassVar[bool] = False
    """Cuts the target off (isolation): proved and recorded as soon as it is made, before anything else."""

    @abstractmethod
    def read(self, ctx: Context, subject: S) -> dict[str, Any]:
        """The state this action changes, read fresh."""

    def reread(self, ctx: Context, subject: S, before: dict[str, Any], applied: Applied) -> dict[str, Any]:
        """The state after acting, for the proof: a fresh read of what the action changed."""
        return self.read(ctx, subject)

    @abstractmethod
    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        """The calls still needed; an empty list means the contained state is already in place."""

    @abstractmethod
    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        """What is wrong with a fresh read after acting; an empty list is proof the action took effect."""

    def apply(self, ctx: Context, state: dict[str, Any], calls: list[Call]) -> Applied:
        return Applied(request_ids=[execute(call)[0] for call in calls])

    def finish(self, ctx: Context, applied: Applied) -> None:
        """The calls that complete the change once its round's urgent change is made; none by default."""

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        """What the result reports about the final state."""
        return state

    @abstractmethod
    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        """The calls that take the target from ``now`` back to the recorded ``before`` (none: it is there)."""

    @abstractmethod
    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        """How a fresh read still differs from the recorded before-state; empty is proof of the release."""

    def apply_restore(self, ctx: Context, before: dict[str, Any], calls: list[Call]) -> list[str]:
        return [execute(call)[0] for call in calls]


class TagInstance(Action[Instance]):
    """Marks the instance, its volumes and its network interfaces as contained for the incident."""

    name = "tag_instance"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        resource_ids = [
            instance.instance_id,
            *(volume.volume_id for volume in instance.volumes),
            *(eni.eni_id for eni in instance.interfaces),
        ]
        tags = ec2.tags_of(resource_ids, [TAG_INCIDENT, TAG_STATUS])
        return {"resources": [{"id": resource_id, "tags": tags[resource_id]} for resource_id in resource_ids]}

    def _wanted(self, ctx: Context) -> dict[str, str]:
        return {TAG_INCIDENT: ctx.incident_id, TAG_STATUS: "contained"}

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        wanted = self._wanted(ctx)
        pending = [resource["id"] for resource in state["resources"] if resource["tags"] != wanted]
        if not pending:
            return []
        tags = [{"Key": key, "Value": value} for key, value in wanted.items()]
        return [Call(operation="CreateTags", params={"Resources": pending, "Tags": tags})]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        wanted = self._wanted(ctx)
        return [
            f"{r['id']} is tagged {r['tags']}, expected {wanted}"
            for r in state["resources"]
            if r["tags"] != wanted
        ]

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"resources": [resource["id"] for resource in state["resources"]]}

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        current = {resource["id"]: resource["tags"] for resource in now["resources"]}
        deletions: dict[tuple[str, ...], list[str]] = {}
        rewrites: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for resource in before["resources"]:
            tags = current.get(resource["id"])
            if tags is None:
                continue
            extra = tuple(sorted(set(tags) - set(resource["tags"])))
            changed = tuple(sorted((k, v) for k, v in resource["tags"].items() if tags.get(k) != v))
            if extra:
                deletions.setdefault(extra, []).append(resource["id"])
            if changed:
                rewrites.setdefault(changed, []).append(resource["id"])
        calls = [
            Call(operation="DeleteTags", params={"Resources": ids, "Tags": [{"Key": k} for k in keys]})
            for keys, ids in deletions.items()
        ]
        calls.extend(
            Call(
                operation="CreateTags",
                params={"Resources": ids, "Tags": [{"Key": k, "Value": v} for k, v in pairs]},
            )
            for pairs, ids in rewrites.items()
        )
        return calls

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        current = {resource["id"]: resource["tags"] for resource in now["resources"]}
        return [
            f"{r['id']} is tagged {current.get(r['id'])}, expected {r['tags']}"
            for r in before["resources"]
            if current.get(r["id"]) != r["tags"]
        ]


class PreserveEvidence(Action[Instance]):
    """Termination protection, shutdown behaviour 'stop' and no volume deleted with the instance."""

    name = "preserve_evidence"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        return {
            "disable_api_termination": bool(
                ec2.instance_attribute(instance.instance_id, "disableApiTermination")
            ),
            "shutdown_behavior": ec2.instance_attribute(
                instance.instance_id, "instanceInitiatedShutdownBehavior"
            ),
            "volumes": [
                {
                    "volume_id": v.volume_id,
                    "device": v.device,
                    "delete_on_termination": v.delete_on_termination,
                }
                for v in instance.volumes
            ],
        }

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        wanted = {
            "disable_api_termination": True,
            "shutdown_behavior": "stop",
            "volumes": [{**v, "delete_on_termination": False} for v in state["volumes"]],
        }
        return self._calls(ctx, state, wanted)

    @staticmethod
    def _calls(ctx: Context, state: dict[str, Any], wanted: dict[str, Any]) -> list[Call]:
        """The calls that bring the attributes from ``state`` to ``wanted`` (EC2 changes one per call)."""
        calls: list[Call] = []
        if state["disable_api_termination"] != wanted["disable_api_termination"]:
            calls.append(
                Call(
                    operation="ModifyInstanceAttribute",
                    params={
                        "InstanceId": ctx.target_id,
                        "DisableApiTermination": {"Value": wanted["disable_api_termination"]},
                    },
                )
            )
        if wanted["shutdown_behavior"] and state["shutdown_behavior"] != wanted["shutdown_behavior"]:
            calls.append(
                Call(
                    operation="ModifyInstanceAttribute",
                    params={
                        "InstanceId": ctx.target_id,
                        # EC2 accepts two forms; moto applies only this one, so tests can prove the change.
                        "Attribute": "instanceInitiatedShutdownBehavior",
                        "Value": wanted["shutdown_behavior"],
                    },
                )
            )
        current = {v["volume_id"]: v["delete_on_termination"] for v in state["volumes"]}
        changed = [
            v
            for v in wanted["volumes"]
            if v["volume_id"] in current and current[v["volume_id"]] != v["delete_on_termination"]
        ]
        if changed:
            calls.append(
                Call(
                    operation="ModifyInstanceAttribute",
                    params={
                        "InstanceId": ctx.target_id,
                        "BlockDeviceMappings": [
                            {
                                "DeviceName": v["device"],
                                "Ebs": {"DeleteOnTermination": v["delete_on_termination"]},
                            }
                            for v in changed
                        ],
                    },
                )
            )
        return calls

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        problems = []
        if not state["disable_api_termination"]:
            problems.append("termination protection is off")
        if state["shutdown_behavior"] != "stop":
            problems.append(f"shutdown behaviour is {state['shutdown_behavior']}, expected stop")
        problems.extend(
            f"{v['volume_id']} ({v['device']}) is still deleted on termination"
            for v in state["volumes"]
            if v["delete_on_termination"]
        )
        return problems

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        return self._calls(ctx, now, before)

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        problems = []
        if now["disable_api_termination"] != before["disable_api_termination"]:
            problems.append(
                f"termination protection is {now['disable_api_termination']}, expected "
                f"{before['disable_api_termination']}"
            )
        if before["shutdown_behavior"] and now["shutdown_behavior"] != before["shutdown_behavior"]:
            problems.append(
                f"shutdown behaviour is {now['shutdown_behavior']}, expected {before['shutdown_behavior']}"
            )
        current = {v["volume_id"]: v["delete_on_termination"] for v in now["volumes"]}
        problems.extend(
            f"{v['volume_id']} deleted on termination is {current[v['volume_id']]}, expected "
            f"{v['delete_on_termination']}"
            for v in before["volumes"]
            if v["volume_id"] in current and current[v["volume_id"]] != v["delete_on_termination"]
        )
        return problems


def _in_parallel(calls: list[Call], *, gone: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Make independent calls side by side; their request ids and responses, in order. A call whose
    resource is ``gone`` (that error code) is left out: the proof reports what is missing."""
    if not calls:
        return []

    def call(planned: Call) -> tuple[str, dict[str, Any]] | None:
        try:
            return execute(planned, shared)
        except ClientError as exc:
            if gone is None or aws.error_code(exc) != gone:
                raise
            return None

    with ThreadPoolExecutor(max_workers=min(len(calls), _MAX_PARALLEL_SNAPSHOTS)) as pool:
        shared = ec2.client()
        return [made for made in pool.map(call, calls) if made is not None]


def _snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "volume_id": snapshot["VolumeId"],
        "state": snapshot["State"],
        "tags": {
            k: v for k, v in ec2.tag_map(snapshot.get("Tags", [])).items() if k.startswith("tourniquet:")
        },
    }


class SnapshotVolumes(Action[Instance]):
    """One forensic snapshot per attached EBS volume, started together and not waited for.

    A snapshot holds what the volume held when it was requested, so the request is the evidence; the
    per-volume labels follow (``finish``) once the round's isolation is made.
    """

    name = "snapshot_volumes"
    kept = "evidence snapshots are kept after release"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        # On a first attempt no snapshot of this incident can exist: no scan of the account's snapshots.
        found = [] if ctx.first_attempt else ec2.evidence_snapshots(ctx.incident_id)
        return self._state(instance, found)

    def reread(
        self, ctx: Context, instance: Instance, before: dict[str, Any], applied: Applied
    ) -> dict[str, Any]:
        # The incident's snapshots are the ones known before and the ones just created: read by id.
        known = [s["snapshot_id"] for s in before["snapshots"]] + list(
            applied.carry.get("created", {}).values()
        )
        return self._state(instance, ec2.snapshots(sorted(set(known))))

    @staticmethod
    def _state(instance: Instance, found: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "volumes": [{"volume_id": v.volume_id, "device": v.device} for v in instance.volumes],
            "snapshots": sorted((_snapshot(s) for s in found), key=lambda s: s["snapshot_id"]),
        }

    @staticmethod
    def _evidence(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The usable evidence snapshot of each volume (the first one, if a race ever made two)."""
        chosen: dict[str, dict[str, Any]] = {}
        for snapshot in state["snapshots"]:
            if snapshot["state"] in _SNAPSHOT_OK_STATES:
                chosen.setdefault(snapshot["volume_id"], snapshot)
        return chosen

    def _common_tags(self, ctx: Context) -> list[dict[str, str]]:
        return [
            {"Key": TAG_INCIDENT, "Value": ctx.incident_id},
            {"Key": TAG_EVIDENCE, "Value": "true"},
            {"Key": TAG_INSTANCE, "Value": ctx.target_id},
        ]

    @staticmethod
    def _source_tags(volume: dict[str, Any]) -> list[dict[str, str]]:
        return [
            {"Key": TAG_SOURCE_VOLUME, "Value": volume["volume_id"]},
            {"Key": TAG_DEVICE, "Value": volume["device"]},
        ]

    def _tagged(self, ctx: Context, snapshot: dict[str, Any], volume: dict[str, Any]) -> bool:
        expected = self._common_tags(ctx) + self._source_tags(volume)
        return all(snapshot["tags"].get(tag["Key"]) == tag["Value"] for tag in expected)

    @staticmethod
    def _placeholder(volume_id: str) -> str:
        return f"<snapshot of {volume_id}>"

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        evidence = self._evidence(state)
        volumes = state["volumes"]
        missing = [v for v in volumes if v["volume_id"] not in evidence]
        description = f"Tourniquet evidence for incident {ctx.incident_id} from {ctx.target_id}"
        calls: list[Call] = []
        if missing and len(missing) == len(volumes):
            # One crash-consistent set across all volumes. The per-volume tags follow once the ids are known.
            calls.append(
                Call(
                    operation="CreateSnapshots",
                    params={
                        "InstanceSpecification": {"InstanceId": ctx.target_id, "ExcludeBootVolume": False},
                        "Description": description,
                        "TagSpecifications": [{"ResourceType": "snapshot", "Tags": self._common_tags(ctx)}],
                    },
                )
            )
            calls.extend(
                Call(
                    operation="CreateTags",
                    params={"Resources": [self._placeholder(v["volume_id"])], "Tags": self._source_tags(v)},
                )
                for v in missing
            )
        else:
            # A retry after a partial run: only the volumes still without evidence, each fully tagged at once.
            calls.extend(
                Call(
                    operation="CreateSnapshot",
                    params={
                        "VolumeId": v["volume_id"],
                        "Description": description,
                        "TagSpecifications": [
                            {
                                "ResourceType": "snapshot",
                                "Tags": self._common_tags(ctx) + self._source_tags(v),
                            }
                        ],
                    },
                )
                for v in missing
            )
        for volume in volumes:
            snapshot = evidence.get(volume["volume_id"])
            if snapshot and not self._tagged(ctx, snapshot, volume):
                calls.append(
                    Call(
                        operation="CreateTags",
                        params={
                            "Resources": [snapshot["snapshot_id"]],
                            "Tags": self._common_tags(ctx) + self._source_tags(volume),
                        },
                    )
                )
        return calls

    def apply(self, ctx: Context, state: dict[str, Any], calls: list[Call]) -> Applied:
        applied = Applied()
        created: dict[str, str] = {}
        for call in (c for c in calls if c["operation"] == "CreateSnapshots"):
            rid, response = execute(call)
            applied.request_ids.append(rid)
            created.update({self._placeholder(s["VolumeId"]): s["SnapshotId"] for s in response["Snapshots"]})
        for rid, response in _in_parallel([c for c in calls if c["operation"] == "CreateSnapshot"]):
            applied.request_ids.append(rid)
            created[self._placeholder(response["VolumeId"])] = response["SnapshotId"]
        applied.carry = {"created": created, "tagging": [c for c in calls if c["operation"] == "CreateTags"]}
        return applied

    def finish(self, ctx: Context, applied: Applied) -> None:
        created: dict[str, str] = applied.carry.get("created", {})
        tagging = []
        for call in applied.carry.get("tagging", []):
            resources = [created.get(resource, resource) for resource in call["params"]["Resources"]]
            if any(resource.startswith("<") for resource in resources):
                # The volume left the instance before the snapshot set was taken; verification reports it.
                continue
            tagging.append(Call(operation="CreateTags", params={**call["params"], "Resources": resources}))
        # One tagging call per volume (each carries its own source volume and device): side by side.
        applied.request_ids.extend(rid for rid, _ in _in_parallel(tagging, gone="InvalidSnapshot.NotFound"))

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        evidence = self._evidence(state)
        problems = []
        for volume in state["volumes"]:
            snapshot = evidence.get(volume["volume_id"])
            if snapshot is None:
                problems.append(
                    f"{volume['volume_id']} ({volume['device']}) has no pending or completed snapshot"
                )
                continue
            if not self._tagged(ctx, snapshot, volume):
                problems.append(f"{snapshot['snapshot_id']} lacks its evidence tags")
        return problems

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        evidence = self._evidence(state)
        return {
            "snapshots": [
                {
                    "volume_id": v["volume_id"],
                    "device": v["device"],
                    "snapshot_id": evidence[v["volume_id"]]["snapshot_id"],
                    "state": evidence[v["volume_id"]]["state"],
                }
                for v in state["volumes"]
                if v["volume_id"] in evidence
            ]
        }

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        return []

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        return []


class IsolateNetwork(Action[Instance]):
    """Moves every network interface to the VPC's no-rule quarantine group, through an allow-all group.

    A security-group change does not cut connections that are already tracked. Swapping first to a group that
    allows all traffic both ways makes those flows untracked; the no-rule group then cuts them at once.
    """

    name = "isolate_network"
    cuts_off = True

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        vpcs = sorted({eni.vpc_id for eni in instance.interfaces})
        found = ec2.find_groups(vpcs)
        groups = []
        for vpc_id in vpcs:
            for role in _ROLES:
                group = found.get((role, vpc_id))
                groups.append(
                    {
                        "vpc_id": vpc_id,
                        "role": role,
                        "group_id": group.group_id if group else None,
                        "ingress": list(group.ingress) if group else [],
                        "egress": list(group.egress) if group else [],
                        "managed": group.managed if group else True,
                    }
                )
        return {"network_interfaces": self._interfaces(instance), "groups": groups}

    def reread(
        self, ctx: Context, instance: Instance, before: dict[str, Any], applied: Applied
    ) -> dict[str, Any]:
        if applied.carry.get("groups_changed"):
            return self.read(ctx, instance)
        # The groups were read moments ago and nothing has touched them since: only the interfaces changed.
        return {"network_interfaces": self._interfaces(instance), "groups": before["groups"]}

    @staticmethod
    def _interfaces(instance: Instance) -> list[dict[str, Any]]:
        return [
            {"id": eni.eni_id, "vpc_id": eni.vpc_id, "groups": list(eni.group_ids)}
            for eni in instance.interfaces
        ]

    @staticmethod
    def _group(state: dict[str, Any], vpc_id: str, role: GroupRole) -> ec2.Group | None:
        for group in state["groups"]:
            if group["vpc_id"] == vpc_id and group["role"] == role and group["group_id"]:
                return ec2.Group(
                    group["group_id"], tuple(group["ingress"]), tuple(group["egress"]), group["managed"]
                )
        return None

    @staticmethod
    def _steps(eni: dict[str, Any], untracking_id: str, quarantine_id: str) -> list[tuple[str, Call]]:
        """The swaps an interface still needs: to the allow-all group (unless there), then to quarantine."""
        if eni["groups"] == [quarantine_id]:
            return []
        steps: list[tuple[str, Call]] = []
        if eni["groups"] != [untracking_id]:
            steps.append(("untrack", _swap(eni["id"], untracking_id)))
        steps.append(("quarantine", _swap(eni["id"], quarantine_id)))
        return steps

    def _group_id(self, state: dict[str, Any], vpc_id: str, role: GroupRole) -> str:
        group = self._group(state, vpc_id, role)
        return group.group_id if group else ec2.group_placeholder(role, vpc_id)

    def _vpcs_needing_untracking(self, state: dict[str, Any]) -> set[str]:
        return {
            eni["vpc_id"]
            for eni in state["network_interfaces"]
            if any(
                step == "untrack"
                for step, _ in self._steps(
                    eni,
                    self._group_id(state, eni["vpc_id"], "untracking"),
                    self._group_id(state, eni["vpc_id"], "quarantine"),
                )
            )
        }

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        needs_untracking = self._vpcs_needing_untracking(state)
        calls: list[Call] = []
        for vpc_id in sorted({eni["vpc_id"] for eni in state["network_interfaces"]}):
            if vpc_id in needs_untracking:
                calls.extend(ec2.group_calls("untracking", vpc_id, self._group(state, vpc_id, "untracking")))
            calls.extend(ec2.group_calls("quarantine", vpc_id, self._group(state, vpc_id, "quarantine")))
        for eni in state["network_interfaces"]:
            untracking = self._group_id(state, eni["vpc_id"], "untracking")
            quarantine = self._group_id(state, eni["vpc_id"], "quarantine")
            calls.extend(call for _, call in self._steps(eni, untracking, quarantine))
        return calls

    def apply(self, ctx: Context, state: dict[str, Any], calls: list[Call]) -> Applied:
        applied = Applied()
        needs_untracking = self._vpcs_needing_untracking(state)
        group_ids: dict[tuple[str, str], str] = {}
        for vpc_id in sorted({eni["vpc_id"] for eni in state["network_interfaces"]}):
            roles: tuple[GroupRole, ...] = (
                ("untracking", "quarantine") if vpc_id in needs_untracking else ("quarantine",)
            )
            for role in roles:
                known = self._group(state, vpc_id, role)
                group_id, request_ids = ec2.ensure_group(role, vpc_id, known)
                group_ids[vpc_id, role] = group_id
                applied.request_ids.extend(request_ids)
                if request_ids or known is None:
                    applied.carry["groups_changed"] = True
        steps = []
        for eni in state["network_interfaces"]:
            quarantine = group_ids[eni["vpc_id"], "quarantine"]
            untracking = group_ids.get(
                (eni["vpc_id"], "untracking"), self._group_id(state, eni["vpc_id"], "untracking")
            )
            for step, call in self._steps(eni, untracking, quarantine):
                rid, _ = execute(call)
                applied.request_ids.append(rid)
                record = {
                    "network_interface": eni["id"],
                    "step": step,
                    "groups_before": eni["groups"],
                    "group": call["params"]["Groups"][0],
                    "request_id": rid,
                }
                ctx.record_step(record)
                steps.append(record)
        applied.detail = {"steps": steps}
        return applied

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        problems = []
        for eni in state["network_interfaces"]:
            quarantine = self._group(state, eni["vpc_id"], "quarantine")
            if quarantine is None:
                problems.append(f"no quarantine group in {eni['vpc_id']}")
                continue
            if eni["groups"] != [quarantine.group_id]:
                problems.append(
                    f"{eni['id']} has groups {eni['groups']}, expected only {quarantine.group_id}"
                )
        for group in state["groups"]:
            if group["role"] == "quarantine" and (group["ingress"] or group["egress"]):
                problems.append(f"quarantine group {group['group_id']} still has rules")
        return problems

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "network_interfaces": state["network_interfaces"],
            "quarantine_groups": {
                g["vpc_id"]: g["group_id"]
                for g in state["groups"]
                if g["role"] == "quarantine" and g["group_id"]
            },
            "untracking_groups": {
                g["vpc_id"]: g["group_id"]
                for g in state["groups"]
                if g["role"] == "untracking" and g["group_id"]
            },
        }

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        # The quarantine groups stay: other instances in the VPC may be using them.
        current = {eni["id"]: eni["groups"] for eni in now["network_interfaces"]}
        return [
            _swap_all(eni["id"], eni["groups"])
            for eni in before["network_interfaces"]
            if eni["id"] in current and current[eni["id"]] != eni["groups"]
        ]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        current = {eni["id"]: eni["groups"] for eni in now["network_interfaces"]}
        return [
            f"{eni['id']} has groups {current.get(eni['id'])}, expected {eni['groups']}"
            for eni in before["network_interfaces"]
            if current.get(eni["id"]) != eni["groups"]
        ]


def _swap(eni_id: str, group_id: str) -> Call:
    return _swap_all(eni_id, [group_id])


def _swap_all(eni_id: str, group_ids: list[str]) -> Call:
    # Per interface, never ModifyInstanceAttribute(Groups=...): that call only reaches the primary interface.
    return Call(
        operation="ModifyNetworkInterfaceAttribute",
        params={"NetworkInterfaceId": eni_id, "Groups": list(group_ids)},
    )


class StopInstance(Action[Instance]):
    """Stops (never terminates, never forces) the instance; memory is lost, disks are kept."""

    name = "stop_instance"
    destructive = True
    _STOPPED = ("stopping", "stopped")

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        return {"state": instance.state}

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if state["state"] in self._STOPPED:
            return []
        if state["state"] not in ("pending", "running"):
            raise errors.ContainmentFailed(
                f"instance {ctx.target_id} is {state['state']} and cannot be stopped"
            )
        return [Call(operation="StopInstances", params={"InstanceIds": [ctx.target_id], "Force": False})]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        if state["state"] in self._STOPPED:
            return []
        return [f"instance is {state['state']}, expected stopping or stopped"]

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        if before["state"] not in ("pending", "running") or now["state"] in ("pending", "running"):
            return []
        if now["state"] != "stopped":
            raise errors.ReleaseFailed(
                f"instance {ctx.target_id} is {now['state']}; it can start once stopped"
            )
        return [Call(operation="StartInstances", params={"InstanceIds": [ctx.target_id]})]

    def apply_restore(self, ctx: Context, before: dict[str, Any], calls: list[Call]) -> list[str]:
        request_ids = super().apply_restore(ctx, before, calls)
        # Release undoes the detaching next, and Auto Scaling and load balancers take back only a running
        # instance: a pending one would fail the re-attach.
        ec2.wait_until_running(ctx.target_id)
        return request_ids

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        if before["state"] in ("pending", "running") and now["state"] not in ("pending", "running"):
            return [f"instance is {now['state']}, expected pending or running"]
        return []


class LiftProtection(Action[Instance]):
    """Takes the protected tag off an instance whose protection was set suspiciously shortly before its
    finding; only ever with a person's approval, and before the other actions, which it lets through."""

    name = "lift_protection"
    destructive = True
    lifts_protection = True
    kept = (
        "a protection lifted as suspicious is not put back: an administrator re-adds the tag if a review "
        "finds it legitimate"
    )

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        return {"tag_key": ctx.protected_tag_key, "value": instance.tags.get(ctx.protected_tag_key)}

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if state["value"] is None:
            return []
        return [
            Call(
                operation="DeleteTags",
                params={"Resources": [ctx.target_id], "Tags": [{"Key": state["tag_key"]}]},
            )
        ]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        return [] if state["value"] is None else [f"{ctx.target_id} still carries {state['tag_key']}"]

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        return []

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        return []


ACTIONS: dict[str, Action[Instance]] = {
    action.name: action
    for action in (
        LiftProtection(),
        TagInstance(),
        PreserveEvidence(),
        SnapshotVolumes(),
        IsolateNetwork(),
        StopInstance(),
    )
}
