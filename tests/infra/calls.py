"""The AWS calls a runtime package makes, read from its source: the permissions its role must grant."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

from stacks.config import PROJECT_ROOT
from tourniquet_cli import action_calls

PACKAGE = PROJECT_ROOT / "lambdas" / "tourniquet"
# boto3 client name → IAM service prefix.
IAM_PREFIX = {
    "autoscaling": "autoscaling",
    "cloudtrail": "cloudtrail",
    "cloudwatch": "cloudwatch",
    "ec2": "ec2",
    "elb": "elasticloadbalancing",
    "elbv2": "elasticloadbalancing",
    "health": "health",
    "iam": "iam",
}
READ_PREFIXES = ("describe_", "get_", "list_", "lookup_")


def sources(domain: str) -> list[Path]:
    return sorted((PACKAGE / domain).glob("*.py"))


def planned_calls(domain: str) -> set[str]:
    """``service:Operation`` of each ``Call(service=…, operation=…)`` the domain plans (constant names)."""
    found = set()
    for path in sources(domain):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Call"
            ):
                continue
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            service = keywords.get("service")
            service_name = service.value if isinstance(service, ast.Constant) else "ec2"
            operation = keywords["operation"]
            # A re-keyed copy of a call planned elsewhere (Call(operation=c["operation"], …)) adds nothing.
            branches = [operation.body, operation.orelse] if isinstance(operation, ast.IfExp) else [operation]
            for branch in branches:
                if isinstance(branch, ast.Constant):
                    found.add(f"{IAM_PREFIX[service_name]}:{branch.value}")
    return found


def operations() -> dict[str, frozenset[str]]:
    """snake_case operation name → the IAM actions it is, across the services the functions use."""
    return action_calls.operations(tuple(IAM_PREFIX.items()))


def reads(domain: str) -> dict[str, frozenset[str]]:
    """Every read the domain makes (direct calls and paginators) → the IAM actions it may be.

    A name several services share (``describe_tags``) may be any of them; one must be granted.
    """
    names = set()
    for path in sources(domain):
        text = path.read_text()
        # Method calls, and operation names handed to paginators or helpers as strings.
        names |= set(re.findall(r"\.((?:describe|get|list|lookup)_\w+)\(", text))
        names |= set(re.findall(r"[\"']((?:describe|get|list|lookup)_\w+)[\"']", text))
    return {
        name: operations()[name] for name in names if name.startswith(READ_PREFIXES) and name in operations()
    }


def covered(action: str, granted: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in granted)


def missing_reads(domain: str, granted: set[str]) -> set[str]:
    """The reads of ``domain`` that no granted action (wildcards included) allows."""
    return {
        name for name, candidates in reads(domain).items() if not any(covered(a, granted) for a in candidates)
    }


def unused_grants(domain: str, granted: set[str]) -> set[str]:
    """The granted read actions (wildcards included) that none of the domain's reads needs."""
    used = {action for candidates in reads(domain).values() for action in candidates}
    return {grant for grant in granted if not any(fnmatch.fnmatchcase(action, grant) for action in used)}
