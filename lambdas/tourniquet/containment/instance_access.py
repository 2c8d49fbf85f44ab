"""Containment actions that cut an instance off from what reaches it and what it may do.

- ``detach_from_scaling``: out of its Auto Scaling group (so auto-healing does not replace it and destroy the
  evidence) and out of every target group and classic load balancer that sends it traffic;
- ``disassociate_eip``: its Elastic IP addresses taken off it (still allocated, so release returns them);
- ``quarantine_instance_profile``: its instance profile replaced by the deny-all quarantine profile;
- ``revoke_role_sessions`` (approval): a deny on credentials of its role issued before now.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.containment import ec2, iam
from tourniquet.containment.actions import Action, Applied, Context
from tourniquet.containment.calls import execute
from tourniquet.containment.ec2 import Instance
from tourniquet.containment.model import Call

_DETACHABLE = frozenset({"InService", "Standby"})
_LEAVING = frozenset({"Detaching", "Detached"})
_GONE_CODES = frozenset({"InvalidTarget", "InvalidInstance"})
_MAX_PARALLEL_READS = 8
_ACTIVE_ASSOCIATION = ("associating", "associated")
# A new instance profile takes a few seconds to be usable by EC2 (IAM is eventually consistent).
_PROFILE_PROPAGATION_DELAYS = (1.0, 2.0, 4.0, 8.0)
_PROFILE_NOT_READY = "InvalidParameterValue"


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


# detach_from_scaling


# Auto Scaling tags each instance of a group with the group's name; users cannot set an aws: tag.
_GROUP_TAG = "aws:autoscaling:groupName"


def _scaling_membership(instance: Instance) -> dict[str, Any] | None:
    """The instance's Auto Scaling group, its lifecycle there and the group's capacity: one read of the
    group its tag names, or, without the tag, a lookup of the instance first."""
    autoscaling = aws.client("autoscaling")
    name = instance.tags.get(_GROUP_TAG)
    if name is None:
        found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance.instance_id])[
            "AutoScalingInstances"
        ]
        if not found:
            return None
        name = found[0]["AutoScalingGroupName"]
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    members = [
        m for group in groups for m in group.get("Instances", []) if m["InstanceId"] == instance.instance_id
    ]
    if not members:
        # The tag outlived the membership (a detach under way): ask about the instance itself.
        return _scaling_membership(replace(instance, tags={})) if _GROUP_TAG in instance.tags else None
    return {
        "group": name,
        "lifecycle_state": members[0]["LifecycleState"],
        "protected_from_scale_in": bool(members[0].get("ProtectedFromScaleIn", False)),
        "desired_capacity": groups[0]["DesiredCapacity"],
        "min_size": groups[0]["MinSize"],
        "max_size": groups[0]["MaxSize"],
    }


def _target_registrations(instance: Instance) -> list[dict[str, Any]]:
    """Every target group registration that sends the instance traffic: by id, or by one of its addresses.

    A target that is draining is already on its way out and is not counted. An instance target group only
    takes instances of its own VPC, so those of other VPCs are not read (an account may hold hundreds).
    """
    vpcs = {eni.vpc_id for eni in instance.interfaces}
    return _registrations(
        instance,
        [
            group["TargetGroupArn"]
            for page in aws.client("elbv2").get_paginator("describe_target_groups").paginate()
            for group in page["TargetGroups"]
            if group.get("TargetType", "instance") == "ip"
            or (group.get("TargetType", "instance") == "instance" and group.get("VpcId") in vpcs)
        ],
    )


def _registrations(instance: Instance, group_arns: list[str]) -> list[dict[str, Any]]:
    """The instance's registrations (by its id or one of its addresses) in these target groups: one read of
    each group's targets."""
    elbv2 = aws.client("elbv2")
    wanted = {instance.instance_id} | {ip for eni in instance.interfaces for ip in eni.private_ips}

    def registered(arn: str) -> list[dict[str, Any]]:
        health = elbv2.describe_target_health(TargetGroupArn=arn)
        return [
            {"target_group_arn": arn, "target": _target(description["Target"])}
            for description in health["TargetHealthDescriptions"]
            if description["Target"]["Id"] in wanted and _registered(description)
        ]

    if not group_arns:
        return []
    with ThreadPoolExecutor(max_workers=min(len(group_arns), _MAX_PARALLEL_READS)) as pool:
        found = [
            registration
            for result in pool.map(registered, sorted(set(group_arns)))
            for registration in result
        ]
    return sorted(found, key=lambda r: (r["target_group_arn"], r["target"]["Id"], r["target"].get("Port", 0)))


def _registered(description: dict[str, Any]) -> bool:
    """Whether a target health description is a registration that is not on its way out (draining)."""
    health = description.get("TargetHealth", {})
    return bool(health.get("State") != "draining" and health.get("Reason") != "Target.NotRegistered")


def _target(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: raw[key] for key in ("Id", "Port", "AvailabilityZone") if key in raw}


def _classic_load_balancers(instance_id: str, names: list[str] | None = None) -> list[str]:
    """The classic load balancers the instance is registered with (among ``names``, when given)."""
    if names == []:
        return []
    pages = (
        aws.client("elb")
        .get_paginator("describe_load_balancers")
        .paginate(**({"LoadBalancerNames": names} if names else {}))
    )
    return sorted(
        balancer["LoadBalancerName"]
        for page in pages
        for balancer in page["LoadBalancerDescriptions"]
        if any(member["InstanceId"] == instance_id for member in balancer.get("Instances", []))
    )


class DetachFromScaling(Action[Instance]):
    """Out of the Auto Scaling group without lowering its capacity, then out of every load balancer.

    The group launches a replacement, so the service keeps its capacity while the instance is kept as
    evidence. Detaching also makes the group deregister the instance from its own target groups; the
    registrations left after that are removed one by one.
    """

    name = "detach_from_scaling"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        return {
            "auto_scaling": _scaling_membership(instance),
            "target_groups": _target_registrations(instance),
            "load_balancers": _classic_load_balancers(instance.instance_id),
        }

    def reread(
        self, ctx: Context, instance: Instance, before: dict[str, Any], applied: Applied
    ) -> dict[str, Any]:
        # What the instance was taken out of, read again; the balancers it was never in are not read.
        return {
            "auto_scaling": _scaling_membership(instance) if before["auto_scaling"] else None,
            "target_groups": _registrations(
                instance, [r["target_group_arn"] for r in before["target_groups"]]
            ),
            "load_balancers": _classic_load_balancers(instance.instance_id, before["load_balancers"]),
        }

    def _scaling_calls(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        membership = state["auto_scaling"]
        if membership is None or membership["lifecycle_state"] in _LEAVING:
            return []
        if membership["lifecycle_state"] not in _DETACHABLE:
            raise errors.ContainmentFailed(
                f"{ctx.target_id} is {membership['lifecycle_state']} in {membership['group']}; "
                "it can be detached once InService or Standby"
            )
        return [
            Call(
                service="autoscaling",
                operation="DetachInstances",
                params={
                    "InstanceIds": [ctx.target_id],
                    "AutoScalingGroupName": membership["group"],
                    "ShouldDecrementDesiredCapacity": False,
                },
            )
        ]

    @staticmethod
    def _balancer_calls(ctx: Context, state: dict[str, Any]) -> list[Call]:
        by_group: dict[str, list[dict[str, Any]]] = {}
        for registration in state["target_groups"]:
            by_group.setdefault(registration["target_group_arn"], []).append(registration["target"])
        calls = [
            Call(
                service="elbv2",
                operation="DeregisterTargets",
                params={"TargetGroupArn": arn, "Targets": targets},
            )
            for arn, targets in by_group.items()
        ]
        calls.extend(
            Call(
                service="elb",
                operation="DeregisterInstancesFromLoadBalancer",
                params={"LoadBalancerName": name, "Instances": [{"InstanceId": ctx.target_id}]},
            )
            for name in state["load_balancers"]
        )
        return calls

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        return self._scaling_calls(ctx, state) + self._balancer_calls(ctx, state)

    def apply(self, ctx: Context, state: dict[str, Any], calls: list[Call]) -> Applied:
        applied = Applied()
        for call in self._scaling_calls(ctx, state):
            applied.request_ids.append(execute(call)[0])
            ctx.record_step(
                {
                    "step": "detach",
                    "group": call["params"]["AutoScalingGroupName"],
                    "request_id": applied.request_ids[-1],
                }
            )
        for call in self._balancer_calls(ctx, state):
            try:
                applied.request_ids.append(execute(call)[0])
            except ClientError as exc:
                # The group deregisters the instance from its own load balancers as it detaches it (and
                # moto refuses what is no longer registered): already out. The proof reads it again.
                if aws.error_code(exc) not in _GONE_CODES:
                    raise
        return applied

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        problems = []
        membership = state["auto_scaling"]
        if membership is not None and membership["lifecycle_state"] not in _LEAVING:
            problems.append(
                f"still {membership['lifecycle_state']} in Auto Scaling group {membership['group']}"
            )
        problems.extend(
            f"still registered in {r['target_group_arn']} as {r['target']['Id']}"
            for r in state["target_groups"]
        )
        problems.extend(f"still registered with load balancer {name}" for name in state["load_balancers"])
        return problems

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        calls: list[Call] = []
        membership = before["auto_scaling"]
        if membership is not None and now["auto_scaling"] is None:
            # Attaching raises the desired capacity by one: the replacement launched at detach stays
            # (scaling back in is left to the group's own policies, which may pick any instance).
            calls.append(
                Call(
                    service="autoscaling",
                    operation="AttachInstances",
                    params={"InstanceIds": [ctx.target_id], "AutoScalingGroupName": membership["group"]},
                )
            )
        registered = {
            (r["target_group_arn"], r["target"]["Id"], r["target"].get("Port")) for r in now["target_groups"]
        }
        missing: dict[str, list[dict[str, Any]]] = {}
        for r in before["target_groups"]:
            if (r["target_group_arn"], r["target"]["Id"], r["target"].get("Port")) not in registered:
                missing.setdefault(r["target_group_arn"], []).append(r["target"])
        calls.extend(
            Call(
                service="elbv2",
                operation="RegisterTargets",
                params={"TargetGroupArn": arn, "Targets": targets},
            )
            for arn, targets in missing.items()
        )
        calls.extend(
            Call(
                service="elb",
                operation="RegisterInstancesWithLoadBalancer",
                params={"LoadBalancerName": name, "Instances": [{"InstanceId": ctx.target_id}]},
            )
            for name in before["load_balancers"]
            if name not in now["load_balancers"]
        )
        return calls

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        problems = []
        if before["auto_scaling"] is not None:
            group = before["auto_scaling"]["group"]
            if (now["auto_scaling"] or {}).get("group") != group:
                problems.append(f"not a member of Auto Scaling group {group}")
        registered = {
            (r["target_group_arn"], r["target"]["Id"], r["target"].get("Port")) for r in now["target_groups"]
        }
        problems.extend(
            f"not registered in {r['target_group_arn']} as {r['target']['Id']}"
            for r in before["target_groups"]
            if (r["target_group_arn"], r["target"]["Id"], r["target"].get("Port")) not in registered
        )
        problems.extend(
            f"not registered with load balancer {name}"
            for name in before["load_balancers"]
            if name not in now["load_balancers"]
        )
        return problems


# disassociate_eip


class DisassociateEip(Action[Instance]):
    """Takes the Elastic IP addresses off the instance's interfaces; the addresses stay allocated."""

    name = "disassociate_eip"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        enis = [eni.eni_id for eni in instance.interfaces]
        addresses = (
            ec2.client().describe_addresses(Filters=[{"Name": "network-interface-id", "Values": enis}])[
                "Addresses"
            ]
            if enis
            else []
        )
        return {
            "addresses": sorted(
                (
                    {
                        "allocation_id": address["AllocationId"],
                        "association_id": address["AssociationId"],
                        "public_ip": address.get("PublicIp"),
                        "network_interface_id": address["NetworkInterfaceId"],
                        "private_ip": address.get("PrivateIpAddress"),
                    }
                    for address in addresses
                    if address.get("AssociationId") and address.get("AllocationId")
                ),
                key=lambda a: a["allocation_id"],
            )
        }

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        return [
            Call(operation="DisassociateAddress", params={"AssociationId": address["association_id"]})
            for address in state["addresses"]
        ]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        return [
            f"{a['public_ip']} ({a['allocation_id']}) is still associated with {a['network_interface_id']}"
            for a in state["addresses"]
        ]

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        current = {a["allocation_id"] for a in now["addresses"]}
        # AllowReassociation=False: an address someone has since given to another resource is not taken back.
        return [
            Call(
                operation="AssociateAddress",
                params={
                    "AllocationId": a["allocation_id"],
                    "NetworkInterfaceId": a["network_interface_id"],
                    **({"PrivateIpAddress": a["private_ip"]} if a["private_ip"] else {}),
                    "AllowReassociation": False,
                },
            )
            for a in before["addresses"]
            if a["allocation_id"] not in current
        ]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        current = {a["allocation_id"]: a for a in now["addresses"]}
        return [
            f"{a['public_ip']} ({a['allocation_id']}) is not associated with {a['network_interface_id']}"
            for a in before["addresses"]
            if (current.get(a["allocation_id"]) or {}).get("network_interface_id")
            != a["network_interface_id"]
        ]


# quarantine_instance_profile


def _association(instance_id: str) -> dict[str, Any] | None:
    found = ec2.client().describe_iam_instance_profile_associations(
        Filters=[
            {"Name": "instance-id", "Values": [instance_id]},
            {"Name": "state", "Values": list(_ACTIVE_ASSOCIATION)},
        ]
    )["IamInstanceProfileAssociations"]
    if not found:
        return None
    return {
        "association_id": found[0]["AssociationId"],
        "profile_arn": found[0]["IamInstanceProfile"]["Arn"],
        "state": found[0]["State"],
    }


def _is_quarantine(arn: str | None) -> bool:
    return arn is not None and arn.endswith(f":instance-profile{iam.QUARANTINE_PATH}{iam.QUARANTINE_NAME}")


class QuarantineInstanceProfile(Action[Instance]):
    """Swaps the instance profile for the deny-all quarantine profile, so new credentials can do nothing.

    Credentials the instance already fetched stay valid until they expire; ``revoke_role_sessions``
    (approval) ends them for every holder of the role.
    """

    name = "quarantine_instance_profile"

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        return {"association": _association(instance.instance_id), "quarantine": iam.quarantine_profile()}

    def _association_call(self, ctx: Context, association: dict[str, Any] | None) -> list[Call]:
        profile = {"Name": iam.QUARANTINE_NAME}
        if association is None:
            return [
                Call(
                    operation="AssociateIamInstanceProfile",
                    params={"IamInstanceProfile": profile, "InstanceId": ctx.target_id},
                )
            ]
        if _is_quarantine(association["profile_arn"]):
            return []
        return [
            Call(
                operation="ReplaceIamInstanceProfileAssociation",
                params={"IamInstanceProfile": profile, "AssociationId": association["association_id"]},
            )
        ]

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        return iam.quarantine_calls(state["quarantine"]) + self._association_call(ctx, state["association"])

    def apply(self, ctx: Context, state: dict[str, Any], calls: list[Call]) -> Applied:
        applied = Applied()
        for call in iam.quarantine_calls(state["quarantine"]):
            try:
                applied.request_ids.append(execute(call)[0])
            except ClientError as exc:
                if aws.error_code(exc) not in iam.RACE_CODES:
                    raise
        for call in self._association_call(ctx, state["association"]):
            applied.request_ids.append(_associate_when_ready(call))
        return applied

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        problems = []
        association = state["association"]
        if association is None or not _is_quarantine(association["profile_arn"]):
            problems.append(
                f"instance profile is {(association or {}).get('profile_arn')}, "
                f"expected {iam.QUARANTINE_NAME}"
            )
        if not state["quarantine"]["denies_all"]:
            problems.append(f"role {iam.QUARANTINE_NAME} lacks its deny-all policy")
        return problems

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"association": state["association"]}

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        original = (before["association"] or {}).get("profile_arn")
        current = now["association"]
        if (current or {}).get("profile_arn") == original:
            return []
        if original is None:
            return [
                Call(
                    operation="DisassociateIamInstanceProfile",
                    params={"AssociationId": current["association_id"]},
                )
            ]
        if current is None:
            return [
                Call(
                    operation="AssociateIamInstanceProfile",
                    params={"IamInstanceProfile": {"Arn": original}, "InstanceId": ctx.target_id},
                )
            ]
        return [
            Call(
                operation="ReplaceIamInstanceProfileAssociation",
                params={"IamInstanceProfile": {"Arn": original}, "AssociationId": current["association_id"]},
            )
        ]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        original = (before["association"] or {}).get("profile_arn")
        current = (now["association"] or {}).get("profile_arn")
        return [] if current == original else [f"instance profile is {current}, expected {original}"]


def _associate_when_ready(call: Call) -> str:
    """Run the association, waiting out the seconds a just-created profile is unknown to EC2."""
    for delay in _PROFILE_PROPAGATION_DELAYS:
        try:
            return execute(call)[0]
        except ClientError as exc:
            if aws.error_code(exc) != _PROFILE_NOT_READY:
                raise
        _sleep(delay)
    return execute(call)[0]


# revoke_role_sessions


def _original_profile(ctx: Context, instance: Instance) -> str | None:
    """The instance's own profile: the one quarantine replaced (from its undo record), or the current one."""
    sk = f"UNDO#{QuarantineInstanceProfile.name}#{instance.instance_id}"
    for record in store.undo_records(ctx.incident_id):
        if record["sk"] == sk:
            return (record["before"]["association"] or {}).get("profile_arn")
    association = _association(instance.instance_id)
    arn = (association or {}).get("profile_arn")
    return None if _is_quarantine(arn) else arn


class RevokeRoleSessions(Action[Instance]):
    """Denies the instance role's credentials issued before now, for every holder of the role.

    This also cuts credentials copied off the instance. Every other instance and service using the role
    must fetch new credentials, which is why it waits for an approval.
    """

    name = "revoke_role_sessions"
    destructive = True

    def read(self, ctx: Context, instance: Instance) -> dict[str, Any]:
        profile = _original_profile(ctx, instance)
        role = _profile_role(profile)
        policy = iam.policy_name("tourniquet-revoke-sessions", ctx.incident_id)
        return {
            "profile_arn": profile,
            "role_name": role.name if role else None,
            "role_tags": dict(role.tags) if role else {},
            "policy_name": policy,
            "policy": iam.inline_policy("role", role.name, policy) if role else None,
        }

    def plan(self, ctx: Context, state: dict[str, Any]) -> list[Call]:
        if state["role_name"] is None or iam.revocation_cutoff(state["policy"]):
            return []
        if ctx.protected_tag_key in state["role_tags"]:
            raise errors.ContainmentFailed(
                f"role {state['role_name']} carries {ctx.protected_tag_key}: Tourniquet never changes it"
            )
        return [
            iam.put_policy_call(
                "role", state["role_name"], state["policy_name"], iam.revoke_older_sessions(store.iso())
            )
        ]

    def verify(self, ctx: Context, state: dict[str, Any]) -> list[str]:
        if state["role_name"] is None or iam.revocation_cutoff(state["policy"]):
            return []
        return [f"role {state['role_name']} lacks the session revocation policy {state['policy_name']}"]

    def detail(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "role_name": state["role_name"],
            "policy_name": state["policy_name"],
            "revoked_before": iam.revocation_cutoff(state["policy"]),
        }

    def restore(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[Call]:
        if now["role_name"] is None or now["policy"] is None or before["policy"] is not None:
            return []
        return [iam.delete_policy_call("role", now["role_name"], now["policy_name"])]

    def restored(self, ctx: Context, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
        if before["policy"] is None and now["policy"] is not None:
            return [f"role {now['role_name']} still has {now['policy_name']}"]
        return []


def _profile_role(profile_arn: str | None) -> iam.Principal | None:
    name = iam.profile_name(profile_arn)
    if name is None:
        return None
    try:
        roles = iam.client().get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchEntity":
            return None
        raise
    return iam.describe("role", roles[0]["RoleName"]) if roles else None


ACTIONS: dict[str, Action[Instance]] = {
    action.name: action
    for action in (DetachFromScaling(), DisassociateEip(), QuarantineInstanceProfile(), RevokeRoleSessions())
}
