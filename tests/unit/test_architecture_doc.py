"""docs/architecture.md lists the diagnostics and the demo's actions: they must be the code's."""

import json
import re

from stacks.config import PROJECT_ROOT
from tourniquet.diagnostics.checks import CHECKS
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet_cli.simulate_cmd import EXAMPLE

DOC = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
ASL = json.loads((PROJECT_ROOT / "statemachines" / "incident_response.asl.json").read_text())


def demo_plan():
    alert = normalize(json.loads(EXAMPLE.read_text()))
    return make_plan(alert, (), Settings(SCOPE_ACCOUNTS=("*",), SCOPE_REGIONS=(alert.region,)))


def names(text: str) -> list[str]:
    return re.findall(r"`(\w+)`", text)


def test_the_diagnostics_table_is_the_workflows_branches_and_checks():
    branches = [
        (next(iter(branch["States"])), next(iter(branch["States"].values()))["Parameters"]["check"])
        for branch in ASL["States"]["Diagnose"]["Branches"]
    ]
    documented = re.findall(r"^\| (\w+) \| `(\w+)` \|", DOC, flags=re.MULTILINE)

    assert documented == branches
    assert sorted(check for _, check in documented) == sorted(CHECKS)
    row = re.search(
        r"^\| `tourniquet\.diagnostics\.handler\.diagnose` \| ([^|]+) \|", DOC, flags=re.MULTILINE
    )
    assert row is not None
    assert row.group(1).split(", ") == [branch for branch, _ in branches]


def test_the_demos_actions_are_its_plans():
    plan = demo_plan()
    automatic = re.search(r"automatic actions, in order: ([^;]+);", DOC)
    approval = re.search(r"these after approval:\s+([^.]+)\.", DOC)

    assert automatic is not None and approval is not None
    assert names(automatic.group(1)) == list(plan.automatic)
    assert names(approval.group(1)) == list(plan.approval)
    assert (len(plan.automatic), len(plan.approval), len(CHECKS)) == (6, 2, 6)


def test_the_example_plan_is_the_demos_plan():
    example = json.loads(DOC.split("The plan:\n\n```json\n", 1)[1].split("```", 1)[0])
    plan = demo_plan()

    assert example["playbook"] == plan.playbook
    assert (example["automatic"], example["approval"]) == (list(plan.automatic), list(plan.approval))
