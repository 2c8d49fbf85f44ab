"""An alert storm: copies of a few problems from three sources, interleaved, make one incident each.

The 500-alert storm is a benchmark (``python -m benchmarks.storm``); this one keeps the guarantee tested.
"""

from __future__ import annotations

from collections import Counter

from boto3.dynamodb.conditions import Attr

from benchmarks.storm import folded, run_storm, storm
from sandbox.core import Sandbox

PROBLEMS = 3
COPIES = 8


def test_a_storm_of_copies_of_three_problems_makes_three_incidents(sandbox: Sandbox):
    executions = run_storm(sandbox, storm(PROBLEMS, COPIES), wave=12)

    assert Counter(e["status"] for e in executions) == {"SUCCEEDED": PROBLEMS * COPIES}
    opened, duplicates = folded(executions)
    recorded = Counter(
        str(item["pk"]).removeprefix("INCIDENT#")
        for item in sandbox.table.scan(FilterExpression=Attr("kind").eq("duplicate"))["Items"]
    )
    assert len(opened) == len(set(opened)) == PROBLEMS
    assert set(duplicates) == set(opened)
    assert all(count == COPIES - 1 for count in duplicates.values())
    assert {incident: recorded[incident] for incident in opened} == dict(duplicates)
