"""A deployment's own playbooks file: loaded in place of the bundled one, refused at synth with an error
naming the file, the playbook and the key; and the commands that list, show and check playbooks."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.config import ConfigError, load_config, project_context
from tests.helpers import load_event
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.catalog import BUNDLED, PlaybookError, catalog, load, validate
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet_cli.main import app

TEAM = """
[[playbook]]
id = "team-ec2"
title = "Our EC2 response"
runbook = "runbooks/ec2.md"
match = { products = ["GuardDuty"], resource_types = ["AwsEc2Instance"] }
actions = [
  { name = "tag_instance", mode = "auto" },
  { name = "stop_instance", mode = "approval" },
]

[[playbook]]
id = "team-everything-else"
title = "Everything else"
runbook = "runbooks/other.md"
match = {}
"""


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "playbooks.toml"
    path.write_text(TEAM)
    return path


def broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(TEAM.replace(old, new, 1))
    return path


def test_the_plan_step_uses_the_deployments_playbooks_file(team_file):
    alert = normalize(load_event("guardduty_ec2_finding"))
    settings = Settings(PLAYBOOKS_FILE=str(team_file), SCOPE_ACCOUNTS=("*",), SCOPE_REGIONS=("eu-west-1",))

    plan = make_plan(alert, (), settings)

    assert (plan.playbook, plan.automatic, plan.approval) == (
        "team-ec2",
        ("tag_instance",),
        ("stop_instance",),
    )
    assert make_plan(alert, (), Settings()).playbook == "guardduty-ec2-instance"


def test_the_bundled_playbooks_are_the_default_and_valid():
    assert catalog() == load(BUNDLED) == validate(BUNDLED)
    assert catalog()[-1].id == "alert-only"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'mode = "auto" }',
            'mode = "sometimes" }',
            "playbook 'team-ec2': key 'actions.0.mode': Input should be",
        ),
        ('title = "Our EC2 response"\n', "", "playbook 'team-ec2': key 'title': Field required"),
        (
            'runbook = "runbooks/ec2.md"',
            'runbook = "x"\nseverity = 3',
            "playbook 'team-ec2': key 'severity': Extra",
        ),
        (
            '"tag_instance"',
            '"burn_it_down"',
            "playbook 'team-ec2': key 'actions.0.name': no containment action",
        ),
        (
            '"tag_instance", mode = "auto"',
            '"stop_instance", mode = "off"',
            "key 'actions.1.name': stop_instance is",
        ),
        ('name = "stop_instance", mode = "approval"', 'name = "stop_instance", mode = "auto"', "destructive"),
        ('id = "team-everything-else"', 'id = "team-ec2"', "playbook 'team-ec2': key 'id': another playbook"),
        (
            "match = {}",
            'match = { sources = ["grafana"] }',
            "key 'match': the last playbook must catch every",
        ),
    ],
    ids=[
        "mode",
        "missing",
        "unknown-key",
        "unknown-action",
        "twice",
        "destructive-auto",
        "same-id",
        "no-catch-all",
    ],
)
def test_a_bad_playbook_is_refused_naming_the_file_the_playbook_and_the_key(tmp_path, old, new, problem):
    path = broken(tmp_path, old, new)

    with pytest.raises(PlaybookError) as refused:
        validate(path)

    assert str(refused.value).startswith(f"{path}: ")
    assert problem in str(refused.value)


def test_the_synth_refuses_a_config_naming_a_bad_playbooks_file(tmp_path):
    path = broken(tmp_path, 'mode = "auto" }', 'mode = "sometimes" }')
    context = project_context()

    with pytest.raises(ConfigError, match=rf"^config key 'playbooks': {path}: playbook 'team-ec2': key "):
        load_config({**context, "tourniquet": {**context["tourniquet"], "playbooks": str(path)}})


def test_the_synth_accepts_a_good_playbooks_file(team_file):
    context = project_context()

    config = load_config({**context, "tourniquet": {**context["tourniquet"], "playbooks": str(team_file)}})

    assert config.playbooks == team_file


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_playbooks_validate_checks_each_file_as_the_synth_does(team_file, tmp_path):
    bad = broken(tmp_path, '"tag_instance"', '"burn_it_down"')

    result = run("playbooks", "validate", str(team_file), str(bad))

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{team_file}: 2 playbooks, valid"
    assert lines[1].startswith(
        f"error: {bad}: playbook 'team-ec2': key 'actions.0.name': no containment action"
    )


def test_playbooks_list_and_show_read_the_named_file(team_file):
    listed = run("playbooks", "list", "--file", str(team_file), "--json")
    shown = run("playbooks", "show", "team-ec2", "--file", str(team_file), "--json")
    missing = run("playbooks", "show", "nope", "--file", str(team_file))

    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [
        "team-ec2",
        "team-everything-else",
    ]
    actions = json.loads(shown.output)["actions"]
    assert actions[1] == {
        "name": "stop_instance",
        "mode": "approval",
        "calls": ["ec2:StopInstances"],
        "undo": ["ec2:StartInstances"],
        "kept": None,
    }
    assert missing.exit_code == 2
    assert missing.output.strip() == (
        "error: no playbook 'nope'; the playbooks are team-ec2, team-everything-else"
    )


def test_actions_lists_every_containment_action_with_mode_target_undo_and_iam():
    result = run("actions", "--json")

    assert result.exit_code == 0, result.output
    by_name = {item["name"]: item for item in map(json.loads, result.output.splitlines())}
    assert by_name["stop_instance"]["mode"] == "approval only"
    assert by_name["isolate_network"]["mode"] == "auto or approval"
    assert by_name["deactivate_access_key"]["target"] == "AwsIamAccessKey"
    assert (by_name["snapshot_volumes"]["undoable"], by_name["tag_instance"]["undoable"]) == (False, True)
    assert "iam:UpdateAccessKey" in by_name["deactivate_access_key"]["iam"]
