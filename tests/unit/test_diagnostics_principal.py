"""Which IAM principal an alert is about, and the profile headline, without AWS."""

from __future__ import annotations

from typing import Any

import pytest

from tourniquet.diagnostics import iam
from tourniquet.intake.model import Actor, Alert, Resource

ASSUMED = "arn:aws:sts::123456789012:assumed-role"
ROLE = "AssumedRole"


def alert(actor: Actor | None = None, *resources: Resource) -> Alert:
    return Alert(
        source="guardduty",
        product="GuardDuty",
        finding_id="f-1",
        type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        category="UnauthorizedAccess",
        severity="HIGH",
        severity_raw="8",
        title="Credentials used outside AWS",
        account="123456789012",
        region="eu-west-1",
        time="2026-11-20T09:13:48Z",
        resources=resources,
        actor=actor,
        dedup_key="k",
    )


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (Actor(user_name="mallory", principal_type="IAMUser"), ("user", "mallory", "alert actor")),
        (Actor(user_name="mallory"), ("user", "mallory", "alert actor")),
        (
            Actor(
                principal="arn:aws:sts::123456789012:assumed-role/web-app/i-0abc",
                principal_type="AssumedRole",
            ),
            ("role", "web-app", "alert actor (assumed role)"),
        ),
        (
            Actor(user_name="web-app", principal_type="AssumedRole"),
            ("role", "web-app", "alert actor (assumed role)"),
        ),
    ],
)
def test_principal_comes_from_the_actor(actor: Actor, expected: tuple[str, str, str]):
    found = iam.principal(alert(actor))

    assert found is not None
    assert (found.kind, found.name, found.source) == expected


def test_actor_wins_over_resources():
    found = iam.principal(alert(Actor(user_name="mallory"), Resource(type="AwsIamRole", id="deploy")))

    assert found is not None and found.name == "mallory"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (Resource(type="AwsIamUser", id="mallory"), ("user", "mallory")),
        (Resource(type="AwsIamRole", id="deploy"), ("role", "deploy")),
        (Resource(type="AwsIamAccessKey", id="AKIA1", details={"user_name": "mallory"}), ("user", "mallory")),
        (
            Resource(
                type="AwsIamAccessKey", id="ASIA1", details={"user_name": "web", "user_type": "AssumedRole"}
            ),
            ("role", "web"),
        ),
    ],
)
def test_principal_comes_from_the_resources(resource: Resource, expected: tuple[str, str]):
    found = iam.principal(alert(None, resource))

    assert found is not None
    assert (found.kind, found.name) == expected


@pytest.mark.parametrize(
    "subject",
    [
        alert(Actor(user_name="root", principal_type="Root")),
        alert(Actor(ip="203.0.113.9")),
        alert(
            None,
            Resource(type="AwsIamAccessKey", id="AKIA1", details={"user_name": "x", "user_type": "Root"}),
        ),
        alert(Actor(user_name="system:serviceaccount:default/app")),
        alert(Actor(user_name="x" * 129)),
        alert(None, Resource(type="AwsS3Bucket", id="logs")),
    ],
)
def test_no_principal_for_root_strangers_and_malformed_names(subject: Alert):
    assert iam.principal(subject) is None


def user_profile(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "user",
        "name": "mallory",
        "attached_policies": ["arn:aws:iam::123456789012:policy/a"],
        "inline_policies": [],
        "access_keys": [{"status": "Active"}, {"status": "Inactive"}],
        "mfa_devices": [],
        "console_access": True,
        "protected": False,
        **changes,
    }


def test_user_headline_names_exposure():
    assert iam.headline(user_profile()) == "user mallory, 1 policies, 1 active keys, no MFA, console"


def test_role_headline_says_when_it_was_last_used_and_if_protected():
    role = {
        "kind": "role",
        "name": "deploy",
        "attached_policies": [],
        "inline_policies": ["a", "b"],
        "last_used": None,
        "protected": True,
    }

    assert iam.headline(role) == "role deploy, 2 policies, last used never, protected"
