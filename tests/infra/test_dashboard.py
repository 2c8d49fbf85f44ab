"""The incident dashboard shows exactly the metrics the Notify step emits, and the stack's alarms."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.cfn import Template, only, resources
from tourniquet.incidents import measures


def body(template: Template) -> dict[str, Any]:
    """The dashboard's JSON, with each CloudFormation reference in it replaced by its logical id."""
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    source = dashboard["Properties"]["DashboardBody"]
    parts = source["Fn::Join"][1] if isinstance(source, dict) else [source]
    text = "".join(
        part if isinstance(part, str) else str(part.get("Ref") or part.get("Fn::GetAtt", ["?"])[0])
        for part in parts
    )
    return dict(json.loads(text))


def test_every_incident_metric_has_a_widget_and_every_widget_names_an_emitted_metric(template: Template):
    named: set[str] = set()
    searched: set[str] = set()
    for widget in body(template)["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], str):
                namespace, name, *dimensions = metric[: metric.index("service") + 2]
                assert namespace == measures.NAMESPACE
                assert dimensions == ["service", measures.SERVICE]
                named.add(name)
            else:
                expression = metric[0]["expression"]
                schema, name = re.fullmatch(
                    r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"', '\w+', 3600\)", expression
                ).groups()
                assert schema.split(",") == [measures.NAMESPACE, *measures.DIMENSIONS]
                searched.add(name)

    assert named == set(measures.TIMES)
    assert searched == {*measures.TIMES, measures.INCIDENTS_CLOSED}


def test_the_dashboard_shows_every_alarm_of_the_stack(template: Template):
    [alarm_widget] = [w for w in body(template)["widgets"] if w["properties"].get("alarms")]

    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(alarms)
