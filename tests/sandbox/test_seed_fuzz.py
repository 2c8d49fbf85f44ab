"""Generated instance and resource shapes: seeding look-alikes never fails but with SeedError, and when it
succeeds an instance with a usable id has a running look-alike."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.core import Sandbox
from sandbox.seed import SeedError
from tests.helpers import load_event

pytestmark = pytest.mark.long

# Each example creates look-alikes in the one sandbox the module shares: few enough to stay quick.
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRESH = "<a fresh instance id>"
_unique = itertools.count(1)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
)


def either(real: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the field as findings have it, now and then anything else in its place (one_of would give
    each of junk's branches as much weight as the real field)."""
    return st.integers(0, 3).flatmap(lambda n: real if n else junk)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={name: either(value) for name, value in fields.items()})


# Few ids, so that generated findings share VPCs, subnets, groups and addresses as real ones do.
vpcs = st.sampled_from(["vpc-0fedcba9876543210", "vpc-0aaaaaaaaaaaaaaaa", "vpc-0bbbbbbbbbbbbbbbb"])
subnets = st.sampled_from(
    ["subnet-0a9b8c7d6e5f43210", "subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
)
addresses = st.sampled_from(
    ["10.0.1.23", "10.0.1.0", "10.0.2.9", "172.16.5.4", "192.168.0.1", "8.8.8.8", "fd00::1", "10.0.1"]
)
group_names = st.one_of(
    st.sampled_from(["default", "web-app", "", "sg-named-like-an-id"]), st.text(max_size=20)
)
groups = optional(
    groupId=st.sampled_from(["sg-0123456789abcdef0", "sg-0aaaaaaaaaaaaaaaa", "sg-0d0d0d0d0d0d0d0d0"]),
    groupName=group_names,
)
interfaces = optional(
    networkInterfaceId=st.from_regex(r"eni-[0-9a-f]{17}", fullmatch=True),
    vpcId=vpcs,
    subnetId=subnets,
    privateIpAddress=addresses,
    securityGroups=st.lists(either(groups), max_size=3),
    ipv6Addresses=st.lists(st.text(max_size=8), max_size=1),
)
tags = optional(key=st.text(max_size=20), value=st.text(max_size=20))
instances = st.fixed_dictionaries(
    {"instanceId": either(st.just(FRESH))},
    optional={
        "instanceType": either(st.sampled_from(["m5.large", "t3.micro", "zz99.galactic", ""])),
        "imageId": either(st.just("ami-0abcdef1234567890")),
        "networkInterfaces": either(st.lists(either(interfaces), max_size=3)),
        "iamInstanceProfile": either(
            optional(
                arn=st.sampled_from(
                    [
                        "arn:aws:iam::123456789012:instance-profile/web-app-profile",
                        "arn:aws:iam::123456789012:instance-profile/",
                        "arn:aws:iam::123456789012:instance-profile/path/a b!",
                    ]
                ),
                id=st.just("AIPAEXAMPLEPROFILEID1"),
            )
        ),
        "tags": either(st.lists(either(tags), max_size=4)),
        "somethingNew": junk,
    },
)

users = st.sampled_from(["ci-deployer", "web-app-role", "Root", "a b/c", ""])
principal_types = st.sampled_from(["IAMUser", "AssumedRole", "Root", "FederatedUser"])
key_ids = st.sampled_from(["AKIAIOSFODNN7EXAMPLE", "ASIAEXAMPLESESSION01", "AKIA"])
resources = st.one_of(
    st.fixed_dictionaries(
        {"Type": st.just("AwsIamAccessKey")},
        optional={
            "Id": either(key_ids.map(lambda key: f"AWS::IAM::AccessKey:{key}")),
            "Details": either(
                optional(
                    AwsIamAccessKey=optional(
                        PrincipalName=users,
                        UserName=users,
                        PrincipalType=principal_types,
                        PrincipalId=st.sampled_from(["AIDAEXAMPLEPRINCIPAL1", "AROAEXAMPLEROLEID0001:i-1"]),
                        AccessKeyId=key_ids,
                    )
                )
            ),
        },
    ),
    st.fixed_dictionaries(
        {"Type": st.just("AwsIamUser")},
        optional={
            "Id": either(users.map(lambda user: f"arn:aws:iam::123456789012:user/{user}")),
            "Details": either(
                optional(AwsIamUser=optional(UserName=users, UserId=st.just("AIDAEXAMPLEUSER01")))
            ),
        },
    ),
    optional(Type=st.text(max_size=20), Id=st.text(max_size=20), Details=junk),
)


def _fresh(name: str) -> str:
    """A name no other example used: each example seeds its own principals."""
    return f"{name}-{next(_unique)}" if name.strip() else name


@FUZZ
@given(details=instances)
def test_any_instance_shape_seeds_a_look_alike_or_says_why(sandbox: Sandbox, details: dict[str, Any]):
    if details["instanceId"] == FRESH:
        details["instanceId"] = f"i-0fuzz{next(_unique):012d}"
    event = load_event("guardduty_ec2_finding")
    event["detail"]["resource"]["instanceDetails"] = details

    try:
        mapped, mapping = sandbox.map_alert(event, volumes=1)
    except SeedError:
        return

    instance_id = details["instanceId"]
    if isinstance(instance_id, str) and instance_id.startswith("i-0fuzz"):
        described = sandbox.client("ec2").describe_instances(InstanceIds=[mapping[instance_id]])
        assert described["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
        assert mapped["detail"]["resource"]["instanceDetails"]["instanceId"] == mapping[instance_id]
    assert all(isinstance(key, str) and len(key) > 3 for key in mapping)


@FUZZ
@given(entries=st.lists(either(resources), max_size=3), eventbridge=st.booleans())
def test_any_security_hub_resource_shape_seeds_look_alikes_or_says_why(
    sandbox: Sandbox, entries: list[Any], eventbridge: bool
):
    finding = load_event("securityhub_get_findings")["Findings"][1]
    finding["Resources"] = [_rename(entry) if isinstance(entry, dict) else entry for entry in entries]
    event = {
        "version": "0",
        "detail-type": "Security Hub Findings - Imported",
        "detail": {"findings": [finding]},
    }
    if not eventbridge:
        event = {"Findings": [finding]}

    try:
        _, mapping = sandbox.map_alert(event)
    except SeedError:
        return

    # Names (replaced only where they stand whole) and ids: text, never blank.
    assert all(isinstance(key, str) and key.strip() for key in mapping)


def _rename(entry: dict[str, Any]) -> dict[str, Any]:
    """The resource about principals no other example named (look-alikes are made once per name)."""
    details = entry.get("Details")
    for kind, field in (
        ("AwsIamAccessKey", "PrincipalName"),
        ("AwsIamAccessKey", "UserName"),
        ("AwsIamUser", "UserName"),
    ):
        inner = details.get(kind) if isinstance(details, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get(field), str):
            inner[field] = _fresh(inner[field])
    return entry
