"""What each containment action calls in AWS, read from the action's own code.

An action plans its changes as ``Call(service=…, operation=…)`` values and reads with a client's
``describe_…``/``get_…``/``list_…`` methods. Following its methods, and the functions of the containment
package they call, gives the calls it makes to contain and those its release makes: the IAM actions it needs,
with no table kept by hand beside the code.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from types import FunctionType, ModuleType
from typing import Any

from tourniquet.containment.actions import Action
from tourniquet.containment.registry import ACTIONS, CONTAINMENT_ORDER

__all__ = ["ACTIONS", "ActionCalls", "all_actions", "describe", "operations"]

PACKAGE = "tourniquet.containment"
# boto3 client name → IAM service prefix, for the services containment uses.
IAM_PREFIX = {
    "ec2": "ec2",
    "iam": "iam",
    "autoscaling": "autoscaling",
    "elb": "elasticloadbalancing",
    "elbv2": "elasticloadbalancing",
}
READ = re.compile(r"(?:describe|get|list)_[a-z0-9_]+")
CONTAIN_METHODS = ("read", "reread", "plan", "apply", "finish", "verify")
RELEASE_METHODS = ("read", "restore", "apply_restore", "restored")
TARGET_KINDS = {"AwsEc2Instance": "EC2 instance", "AwsIamAccessKey": "IAM access key (its user or role)"}


@dataclass(frozen=True)
class ActionCalls:
    name: str
    target_type: str
    destructive: bool
    undoable: bool
    kept: str | None
    changes: tuple[str, ...]
    """The IAM actions of the calls that contain (``ec2:ModifyNetworkInterfaceAttribute``…)."""
    reads: tuple[str, ...]
    """The IAM actions of what it reads first and to prove the change."""
    undo: tuple[str, ...]
    """The IAM actions of the calls its release makes."""

    @property
    def target_kind(self) -> str:
        return TARGET_KINDS.get(self.target_type, self.target_type)

    @property
    def iam(self) -> tuple[str, ...]:
        """Every IAM action it needs to contain: its reads and its changes."""
        return tuple(sorted({*self.changes, *self.reads}))


def all_actions() -> list[ActionCalls]:
    """Every registered containment action, in the order a playbook runs them."""
    order = {name: index for index, name in enumerate(CONTAINMENT_ORDER)}
    return [describe(name) for name in sorted(ACTIONS, key=lambda n: (order.get(n, len(order)), n))]


@cache
def describe(name: str) -> ActionCalls:
    action = ACTIONS[name]
    kind = type(action)
    changes, reads = _follow(kind, CONTAIN_METHODS)
    undo, _ = _follow(kind, RELEASE_METHODS)
    return ActionCalls(
        name=name,
        target_type=kind.target_type,
        destructive=kind.destructive,
        undoable=bool(undo) and kind.kept is None,
        kept=kind.kept,
        changes=tuple(sorted(changes)),
        reads=tuple(sorted(reads)),
        undo=tuple(sorted(undo)),
    )


def _follow(kind: type[Action[Any]], methods: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """The writes and reads (IAM actions) reached from ``methods`` of the action class."""
    writes: set[str] = set()
    read_names: set[str] = set()
    seen: set[Any] = set()
    pending = [getattr(kind, method) for method in methods]
    while pending:
        function = inspect.unwrap(pending.pop())
        if function in seen or not _ours(function):
            continue
        seen.add(function)
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and READ.fullmatch(node.value):
                read_names.add(node.value)  # an operation handed to a paginator
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "Call":
                writes |= _planned(node)
                continue
            if isinstance(node.func, ast.Attribute) and READ.fullmatch(node.func.attr):
                read_names.add(node.func.attr)
            callee = _resolve(node.func, kind, function.__globals__)
            if callee is not None:
                pending.append(callee)
    return writes, {action for name in read_names for action in _read_actions(name)}


def _ours(function: Any) -> bool:
    return isinstance(function, FunctionType) and function.__module__.startswith(PACKAGE)


def _resolve(func: ast.expr, kind: type, scope: dict[str, Any]) -> Any:
    """The function a call in the containment package names: ``f(…)``, ``module.f(…)`` or ``self.f(…)``."""
    if isinstance(func, ast.Name):
        return scope.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        owner = func.value.id
        if owner in ("self", "cls"):
            return getattr(kind, func.attr, None)
        module = scope.get(owner)
        if isinstance(module, ModuleType):
            return getattr(module, func.attr, None)
    return None


def _planned(node: ast.Call) -> set[str]:
    """``service:Operation`` of a ``Call(…)`` (both branches of a conditional operation)."""
    keywords = {keyword.arg: keyword.value for keyword in node.keywords}
    service = keywords.get("service")
    prefix = IAM_PREFIX[str(service.value) if isinstance(service, ast.Constant) else "ec2"]
    operation = keywords.get("operation")
    branches = [operation.body, operation.orelse] if isinstance(operation, ast.IfExp) else [operation]
    return {
        f"{prefix}:{branch.value}"
        for branch in branches
        if isinstance(branch, ast.Constant) and isinstance(branch.value, str)
    }


@cache
def operations(
    prefixes: tuple[tuple[str, str], ...] = tuple(IAM_PREFIX.items()),
) -> dict[str, frozenset[str]]:
    """snake_case operation → the IAM actions it may be, across the services named (boto3 client name →
    IAM prefix; by default those containment uses)."""
    import botocore.session  # noqa: PLC0415 - its service models load only for this
    from botocore import xform_name  # noqa: PLC0415

    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for client, prefix in prefixes:
        for operation in session.get_service_model(client).operation_names:
            found.setdefault(xform_name(operation), set()).add(f"{prefix}:{operation}")
    return {name: frozenset(actions) for name, actions in found.items()}


def _read_actions(name: str) -> frozenset[str]:
    return operations().get(name, frozenset())
