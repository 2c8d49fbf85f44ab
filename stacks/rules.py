"""What starts a workflow, as data: each EventBridge rule the config enables and the filters in its pattern.

:mod:`stacks.triggers` turns these into the deployed rules; ``tourniquet plan`` checks an event against the
same filters offline, naming the one that drops it. No CDK here: the CLI loads this in a moment.

Each filter holds the EventBridge pattern for one field of the event. EventBridge matches an event when the
source, the detail type and every filter match; a field inside an array (Security Hub's ``findings``) matches
when any of its values does, each field on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stacks.config import SEVERITY_LABELS, TourniquetConfig, labels_at_or_above

# OCSF severity_id of each label (6, Fatal, is above Critical); status_id 1 New and 2 In Progress.
OCSF_SEVERITY_IDS = {label: index + 1 for index, label in enumerate(SEVERITY_LABELS)}
OCSF_OPEN_STATUSES = [1, 2]


@dataclass(frozen=True)
class Filter:
    """One field's pattern: ``path`` into the event, the EventBridge ``values`` it accepts, and what it is
    in words; ``key`` is the config key it comes from (None for a fixed part of the rule)."""

    path: tuple[str, ...]
    values: tuple[Any, ...]
    says: str
    key: str | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(_accepts(self.values, value) for value in _values_at(event, self.path))

    @property
    def field(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Rule:
    construct_id: str
    description: str
    source: str
    detail_type: str
    filters: tuple[Filter, ...]

    def listens_to(self, event: Mapping[str, Any]) -> bool:
        return event.get("source") == self.source and event.get("detail-type") == self.detail_type

    def first_mismatch(self, event: Mapping[str, Any]) -> Filter | None:
        """The first filter the event fails, or None when the rule matches it."""
        return next((f for f in self.filters if not f.matches(event)), None)

    def pattern(self) -> dict[str, Any]:
        """The rule's EventBridge pattern (JSON)."""
        pattern: dict[str, Any] = {"source": [self.source], "detail-type": [self.detail_type]}
        for item in self.filters:
            node = pattern
            for part in item.path[:-1]:
                node = node.setdefault(part, {})
            node[item.path[-1]] = list(item.values)
        return pattern


def rules(config: TourniquetConfig) -> tuple[Rule, ...]:
    """The rules the config enables, in the order they are deployed."""
    found = [
        Rule(
            "GuardDutyFindings",
            "GuardDuty findings at or above the configured severity start the incident response.",
            "aws.guardduty",
            "GuardDuty Finding",
            (
                Filter(
                    ("detail", "severity"),
                    ({"numeric": [">=", config.guardduty_min_severity]},),
                    f"severity at or above {config.guardduty_min_severity:g}",
                    "guardduty_min_severity",
                ),
            ),
        )
    ]
    if config.securityhub_product_names:
        products = list(config.securityhub_product_names)
        found.append(
            Rule(
                "SecurityHubFindings",
                "Active, new Security Hub findings of the configured products and severities start the "
                "incident response.",
                "aws.securityhub",
                "Security Hub Findings - Imported",
                (
                    Filter(
                        ("detail", "findings", "ProductName"),
                        tuple(products),
                        f"product one of {', '.join(products)}",
                        "securityhub_product_names",
                    ),
                    Filter(
                        ("detail", "findings", "Severity", "Label"),
                        tuple(labels_at_or_above(config.securityhub_min_severity)),
                        f"severity {config.securityhub_min_severity} or above",
                        "securityhub_min_severity",
                    ),
                    Filter(("detail", "findings", "RecordState"), ("ACTIVE",), "record state ACTIVE"),
                    # Resolved and suppressed findings are someone's decision already.
                    Filter(
                        ("detail", "findings", "Workflow", "Status"),
                        ("NEW", "NOTIFIED"),
                        "workflow status NEW or NOTIFIED (resolved and suppressed ones are decided)",
                    ),
                ),
            )
        )
    if config.securityhub_v2_product_names:
        products = list(config.securityhub_v2_product_names)
        found.append(
            Rule(
                "SecurityHubOcsfFindings",
                "New and in-progress findings of the new Security Hub (OCSF) of the configured products and "
                "severities start the incident response.",
                "aws.securityhub",
                "Findings Imported V2",
                (
                    Filter(
                        ("detail", "findings", "metadata", "product", "name"),
                        tuple(products),
                        f"product one of {', '.join(products)}",
                        "securityhub_v2_product_names",
                    ),
                    Filter(
                        ("detail", "findings", "severity_id"),
                        ({"numeric": [">=", OCSF_SEVERITY_IDS[config.securityhub_v2_min_severity]]},),
                        f"severity {config.securityhub_v2_min_severity} or above",
                        "securityhub_v2_min_severity",
                    ),
                    # Resolved, suppressed and archived findings are someone's decision already.
                    Filter(
                        ("detail", "findings", "status_id"),
                        tuple(OCSF_OPEN_STATUSES),
                        "status New or In Progress (resolved, suppressed and archived ones are decided)",
                    ),
                ),
            )
        )
    if config.securityhub_custom_action_ids:
        actions = list(config.securityhub_custom_action_ids)
        found.append(
            Rule(
                "SecurityHubCustomAction",
                "An analyst's use of Tourniquet's Security Hub custom action starts the incident response "
                "for the findings chosen.",
                "aws.securityhub",
                "Security Hub Findings - Custom Action",
                # Only these custom actions: others belong to other tools. No region is named, so a forwarded
                # click is taken as a local one.
                (
                    Filter(
                        ("resources",),
                        tuple({"suffix": f":action/custom/{name}"} for name in actions),
                        f"custom action one of {', '.join(actions)}",
                        "securityhub_custom_action_ids",
                    ),
                ),
            )
        )
    if config.cloudwatch_alarm_prefixes:
        prefixes = list(config.cloudwatch_alarm_prefixes)
        found.append(
            Rule(
                "CloudWatchAlarms",
                "Alarms named with a configured prefix open an incident in ALARM and resolve it back in OK.",
                "aws.cloudwatch",
                "CloudWatch Alarm State Change",
                (
                    Filter(
                        ("detail", "alarmName"),
                        tuple({"prefix": prefix} for prefix in prefixes),
                        f"alarm name starting with {' or '.join(prefixes)}",
                        "cloudwatch_alarm_prefixes",
                    ),
                    # ALARM opens an incident, OK resolves it; INSUFFICIENT_DATA says nothing.
                    Filter(("detail", "state", "value"), ("ALARM", "OK"), "state ALARM or OK"),
                ),
            )
        )
    return tuple(found)


def _values_at(node: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value at ``path``, through arrays as EventBridge goes (an array's elements are each tried)."""
    if isinstance(node, list):
        for item in node:
            yield from _values_at(item, path)
        return
    if not path:
        yield node
        return
    if isinstance(node, Mapping) and path[0] in node:
        yield from _values_at(node[path[0]], path[1:])


def _accepts(values: Sequence[Any], value: Any) -> bool:
    return any(_accepts_one(pattern, value) for pattern in values)


def _accepts_one(pattern: Any, value: Any) -> bool:
    if not isinstance(pattern, Mapping):
        if isinstance(pattern, bool) or isinstance(value, bool):
            return pattern is value
        return bool(pattern == value)
    if "prefix" in pattern:
        return isinstance(value, str) and value.startswith(pattern["prefix"])
    if "suffix" in pattern:
        return isinstance(value, str) and value.endswith(pattern["suffix"])
    if "numeric" in pattern:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        comparisons = pattern["numeric"]
        return all(_compare(value, comparisons[i], comparisons[i + 1]) for i in range(0, len(comparisons), 2))
    raise ValueError(f"an EventBridge pattern this module does not evaluate: {pattern}")


def _compare(value: float, operator: str, bound: float) -> bool:
    return {
        ">=": value >= bound,
        ">": value > bound,
        "<=": value <= bound,
        "<": value < bound,
        "=": value == bound,
    }[operator]


@dataclass(frozen=True)
class Route:
    """Where an EventBridge event goes: the rule that matches it, or why none does, in words."""

    rule: str | None
    dropped_by: Filter | None = None
    reason: str = ""


def route(event: Mapping[str, Any], enabled: Sequence[Rule]) -> Route:
    """The first enabled rule that matches ``event``, or the filter that drops it: of the rules listening to
    its source and detail type, the first one's first failing filter."""
    listening = [rule for rule in enabled if rule.listens_to(event)]
    for rule in listening:
        if rule.first_mismatch(event) is None:
            return Route(rule=rule.construct_id, reason=f"matches the {rule.construct_id} rule")
    if not listening:
        return Route(
            rule=None,
            reason=f"no enabled rule listens to source {event.get('source')!r}, detail type "
            f"{event.get('detail-type')!r}",
        )
    failing = listening[0].first_mismatch(event)
    assert failing is not None
    found = sorted({repr(v) for v in _values_at(event, failing.path)}) or ["nothing"]
    key = f" (config key {failing.key})" if failing.key else ""
    return Route(
        rule=None,
        dropped_by=failing,
        reason=f"the {listening[0].construct_id} rule takes only {failing.says}{key}; "
        f"{failing.field} is {', '.join(found)}",
    )
