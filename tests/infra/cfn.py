"""Reading a synthesized CloudFormation template in tests."""

from __future__ import annotations

from typing import Any

from stacks.names import ASSUME_ACTIONS

Template = dict[str, Any]

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource, for every resource of type ``kind``."""
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == kind}


def only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def one(template: Template, kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The one resource of type ``kind`` whose logical id starts with ``prefix`` (its construct id)."""
    found = {lid: res for lid, res in resources(template, kind).items() if lid.startswith(prefix)}
    assert len(found) == 1, f"expected one {kind} named {prefix}…, found {sorted(found)}"
    return next(iter(found.items()))


def function_by_handler(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (lid, res)
        for lid, res in resources(template, "AWS::Lambda::Function").items()
        if res["Properties"]["Handler"] == handler
    ]
    assert len(matches) == 1, f"expected one function with handler {handler}, found {len(matches)}"
    return matches[0]


def role_of(function: dict[str, Any]) -> str:
    """The logical id of a function's role (``Role: {"Fn::GetAtt": [<role>, "Arn"]}``)."""
    role = function["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"}, role
    return str(role["Fn::GetAtt"][0])


def role_statements(template: Template, role: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role: inline, AWS::IAM::Policy and managed."""
    statements: list[dict[str, Any]] = []
    role_resource = template["Resources"][role]
    for policy in role_resource["Properties"].get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for policy in resources(template, "AWS::IAM::ManagedPolicy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


MEMBER_ROLES = {"diagnose": "DiagnoseRole", "contain": "ContainRole", "release": "ReleaseRole"}


def member_role(template: Template, purpose: str) -> str:
    """The logical id of the member stack's role for ``purpose`` (diagnose, contain or release)."""
    role_id, _ = one(template, "AWS::IAM::Role", MEMBER_ROLES[purpose])
    return role_id


def member_role_statements(template: Template, purpose: str) -> list[dict[str, Any]]:
    """Every statement of the member role for ``purpose``."""
    return role_statements(template, member_role(template, purpose))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement.get("Action", [])))


# What a function needs to act in a target's account: assume the member role there, naming the incident.
MEMBER_ROLE_ACTIONS = frozenset(ASSUME_ACTIONS)


def own_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements about what a function does itself, without the one that lets it assume a member role."""
    return [st for st in statements if not set(actions(st)) <= MEMBER_ROLE_ACTIONS]


def allowed_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for st in statements if st["Effect"] == "Allow" for action in actions(st)}


def granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The Allow statements that grant ``action``."""
    return [st for st in statements if st["Effect"] == "Allow" and action in actions(st)]


def fake_value(intrinsic: Any) -> str:
    """A stand-in for an intrinsic's value that still names the resource it points to."""
    if isinstance(intrinsic, dict) and set(intrinsic) == {"Fn::GetAtt"}:
        logical_id, attribute = intrinsic["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(intrinsic, dict) and set(intrinsic) == {"Ref"}:
        name = intrinsic["Ref"]
        return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}.get(
            name, f"<{name}>"
        )
    raise AssertionError(f"cannot resolve {intrinsic!r}")


def rendered(value: Any) -> Any:
    """``value`` with every ``Ref`` and ``Fn::Join`` replaced by a stand-in of the same size or more."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(rendered(part)) for part in parts)
        if set(value) in ({"Ref"}, {"Fn::GetAtt"}):
            # A policy ARN, the longest thing a Ref in a policy stands for here.
            return (
                "arn:aws:iam::123456789012:policy/tourniquet/TourniquetDenyAll"
                if "Ref" in value
                and (value["Ref"] not in ("AWS::Region", "AWS::AccountId", "AWS::Partition"))
                else fake_value(value)
            )
        return {key: rendered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rendered(item) for item in value]
    return value


def arn_text(value: Any) -> str:
    """An ARN as CloudFormation writes it, with each pseudo parameter shown as ``${AWS::…}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return str(separator).join(arn_text(part) for part in parts)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"${{{value['Ref']}}}"
    raise AssertionError(f"not an ARN: {value!r}")
