"""CloudFormation template evaluation: intrinsic functions, conditions and dependency order.

Only what a synthesized CDK template needs to be deployed locally: values are resolved on demand, so a
property the sandbox never reads (an alarm's metric, a policy document) never has to be resolvable.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """The template uses something the sandbox cannot evaluate, or is inconsistent."""


class _NoValue:
    """``Ref: AWS::NoValue``: the enclosing property or list element is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Binding:
    """What ``Ref`` and ``Fn::GetAtt`` return for one logical id."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    # For resources the sandbox does not create: any attribute asked for gets a stable placeholder.
    placeholder_attribute: Callable[[str], Any] | None = None

    def attribute(self, logical_id: str, name: str) -> Any:
        if name in self.attributes:
            return self.attributes[name]
        if self.placeholder_attribute is not None:
            return self.placeholder_attribute(name)
        raise TemplateError(f"{logical_id} has no attribute {name!r} in the sandbox")


class Resolver:
    """Evaluates intrinsic functions against the bindings made so far."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        region: str,
        account_id: str,
        stack_name: str,
        partition: str = "aws",
        url_suffix: str = "amazonaws.com",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.partition = partition
        self.url_suffix = url_suffix
        self._parameter_values = dict(parameters or {})
        self._bindings: dict[str, Binding] = {}
        self._conditions: dict[str, bool] = {}
        self._pseudo: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": partition,
            "AWS::URLSuffix": url_suffix,
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"
                "00000000-0000-4000-8000-000000000000"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    # Bindings

    def bind(self, logical_id: str, binding: Binding) -> None:
        self._bindings[logical_id] = binding

    def binding(self, logical_id: str) -> Binding:
        try:
            return self._bindings[logical_id]
        except KeyError:
            raise TemplateError(f"{logical_id} is referenced before it was deployed") from None

    # Conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            value = self.resolve(conditions[name])
            if not isinstance(value, bool):
                raise TemplateError(f"condition {name!r} did not evaluate to a boolean")
            self._conditions[name] = value
        return self._conditions[name]

    # Evaluation

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            function = _FUNCTIONS.get(key)
            # A one-key map named "Condition" is an intrinsic only when it names a condition.
            if function is not None and (key != "Condition" or isinstance(argument, str)):
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def resolve_string(self, value: Any, what: str) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool) or not isinstance(resolved, str | int | float):
            raise TemplateError(f"{what} must resolve to a string, got {resolved!r}")
        return str(resolved)

    def _ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        if name in self._pseudo:
            return self._pseudo[name]
        parameters = self.template.get("Parameters", {})
        if name in parameters:
            return self._parameter(name, parameters[name])
        if name in self.template.get("Resources", {}):
            return self.binding(name).ref
        raise TemplateError(f"Ref to unknown name {name!r}")

    def _parameter(self, name: str, spec: Mapping[str, Any]) -> Any:
        if name in self._parameter_values:
            raw: Any = self._parameter_values[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(f"parameter {name!r} has no value and no default")
        kind = str(spec.get("Type", "String"))
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            return [part.strip() for part in str(raw).split(",")]
        return raw

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical_id = self.resolve_string(argument[0], "Fn::GetAtt resource")
            attribute = self.resolve_string(argument[1], "Fn::GetAtt attribute")
        else:
            raise TemplateError(f"malformed Fn::GetAtt {argument!r}")
        return self.binding(logical_id).attribute(logical_id, attribute)

    def _join(self, argument: Any) -> str:
        delimiter, items = _pair(argument, "Fn::Join")
        values = self.resolve(items)
        if not isinstance(values, list):
            raise TemplateError("Fn::Join needs a list")
        return str(delimiter).join(self.resolve_string(item, "Fn::Join element") for item in values)

    def _sub(self, argument: Any) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, str):
            text = argument
        else:
            text, variables = _pair(argument, "Fn::Sub")
            if not isinstance(text, str) or not isinstance(variables, dict):
                raise TemplateError("Fn::Sub needs a string and a map")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.resolve_string(variables[name], f"Fn::Sub variable {name}")
            if name in self._pseudo or "." not in name:
                return self.resolve_string({"Ref": name}, f"Fn::Sub ${{{name}}}")
            return self.resolve_string({"Fn::GetAtt": name}, f"Fn::Sub ${{{name}}}")

        return _SUB_VARIABLE.sub(replace, text)

    def _select(self, argument: Any) -> Any:
        index, items = _pair(argument, "Fn::Select")
        position = int(self.resolve(index))
        values = self.resolve(items)
        if not isinstance(values, list) or not 0 <= position < len(values):
            raise TemplateError(f"Fn::Select index {position} out of range")
        return values[position]

    def _split(self, argument: Any) -> list[str]:
        delimiter, source = _pair(argument, "Fn::Split")
        return self.resolve_string(source, "Fn::Split source").split(str(delimiter))

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError("Fn::If needs [condition, value_if_true, value_if_false]")
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = _pair(argument, "Fn::Equals")
        return bool(self.resolve(left) == self.resolve(right))

    def _booleans(self, argument: Any, name: str) -> Iterator[bool]:
        if not isinstance(argument, list):
            raise TemplateError(f"{name} needs a list")
        for item in argument:
            value = self.resolve(item)
            if not isinstance(value, bool):
                raise TemplateError(f"{name} operand did not evaluate to a boolean")
            yield value

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError("Fn::FindInMap needs [map, top-level key, second-level key]")
        name, top, second = (self.resolve_string(item, "Fn::FindInMap key") for item in argument)
        try:
            return self.template["Mappings"][name][top][second]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap: no {name}/{top}/{second}") from None

    def _to_json_string(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))


def _pair(argument: Any, name: str) -> tuple[Any, Any]:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{name} needs two arguments")
    return argument[0], argument[1]


def _unsupported(name: str) -> Callable[[Resolver, Any], Any]:
    def fail(_resolver: Resolver, _argument: Any) -> Any:
        raise TemplateError(f"{name} is not supported by the sandbox")

    return fail


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Join": Resolver._join,
    "Fn::Sub": Resolver._sub,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::Equals": Resolver._equals,
    "Fn::And": lambda resolver, argument: all(list(resolver._booleans(argument, "Fn::And"))),
    "Fn::Or": lambda resolver, argument: any(list(resolver._booleans(argument, "Fn::Or"))),
    "Fn::Not": lambda resolver, argument: not all(list(resolver._booleans(argument, "Fn::Not"))),
    "Condition": lambda resolver, argument: resolver.condition(str(argument)),
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::GetAZs": lambda resolver, _argument: [f"{resolver.region}{zone}" for zone in "abc"],
    "Fn::Base64": lambda resolver, argument: base64.b64encode(
        resolver.resolve_string(argument, "Fn::Base64").encode()
    ).decode(),
    "Fn::ToJsonString": Resolver._to_json_string,
    "Fn::Length": lambda resolver, argument: len(resolver.resolve(argument)),
    "Fn::ImportValue": _unsupported("Fn::ImportValue"),
    "Fn::Cidr": _unsupported("Fn::Cidr"),
    "Fn::Transform": _unsupported("Fn::Transform"),
}


def references(value: Any) -> set[str]:
    """Logical ids a value refers to through Ref, Fn::GetAtt and Fn::Sub (pseudo parameters excluded)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                if isinstance(item, str):
                    found.add(item.partition(".")[0])
                elif isinstance(item, list) and item and isinstance(item[0], str):
                    found.add(item[0])
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else (item[0], item[1])
                for name in _SUB_VARIABLE.findall(str(text)):
                    if not name.startswith("!") and name not in variables:
                        found.add(name.partition(".")[0])
                found |= references(variables)
            found |= references(item)
    return {name for name in found if not name.startswith("AWS::")}


def deployment_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids so that every resource comes after what it references; template order breaks ties."""
    depends: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        explicit = resource.get("DependsOn", [])
        needed = references(resource.get("Properties", {})) | set(
            [explicit] if isinstance(explicit, str) else explicit
        )
        depends[logical_id] = {name for name in needed if name in resources and name != logical_id}
    order: list[str] = []
    done: set[str] = set()
    pending = list(resources)
    while pending:
        ready = [name for name in pending if depends[name] <= done]
        if not ready:
            raise TemplateError(f"circular dependency among {sorted(pending)}")
        for name in ready:
            order.append(name)
            done.add(name)
        pending = [name for name in pending if name not in done]
    return order
