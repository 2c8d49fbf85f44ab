"""Least privilege, checked on the synthesized policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tourniquet.containment import ec2 as containment_ec2

from stacks.tourniquet_stack import (
    CONTAINMENT_ACTIONS,
    MANAGED_GROUP_TAG,
    RESOURCE_STAR_WRITE_ACTIONS,
    SECURITY_GROUP_RULE_ACTIONS,
)
from tests.infra.cfn import (
    Template,
    actions,
    allowed_actions,
    as_list,
    function_by_handler,
    only,
    resources,
    role_of,
    role_statements,
)

READ_VERBS = ("Describe", "Get", "List", "Lookup", "Query", "Scan", "BatchGet")


def is_read_only(action: str) -> bool:
    _, _, verb = action.partition(":")
    return verb.startswith(READ_VERBS)


def all_roles(template: Template) -> list[str]:
    return list(resources(template, "AWS::IAM::Role"))


def handler_statements(template: Template, handler: str) -> list[dict[str, Any]]:
    _, fn = function_by_handler(template, handler)
    return role_statements(template, role_of(fn))


def test_no_write_action_on_every_resource_unless_aws_requires_it(template: Template) -> None:
    for role in all_roles(template):
        for statement in role_statements(template, role):
            if statement["Effect"] != "Allow" or "*" not in as_list(statement["Resource"]):
                continue
            writes = {action for action in actions(statement) if not is_read_only(action)}
            assert writes <= RESOURCE_STAR_WRITE_ACTIONS, (
                f"{role}: {sorted(writes - RESOURCE_STAR_WRITE_ACTIONS)}"
            )


def test_no_service_wide_action_wildcards(template: Template) -> None:
    for role in all_roles(template):
        for action in allowed_actions(role_statements(template, role)):
            _, _, verb = action.partition(":")
            assert action != "*" and verb != "*", f"{role}: {action}"
            if "*" in verb:
                assert is_read_only(action), f"{role}: {action}"


def test_nobody_deletes_from_the_audit_table(template: Template) -> None:
    for role in all_roles(template):
        granted = allowed_actions(role_statements(template, role))
        assert not granted & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable"}, role


def test_slack_interaction_answers_only_tasks_of_this_state_machine(template: Template) -> None:
    machine_id, _ = only(template, "AWS::StepFunctions::StateMachine")
    statements = handler_statements(template, "tourniquet.approval.handler.slack_interaction")
    states = [st for st in statements if any(a.startswith("states:") for a in actions(st))]
    assert len(states) == 1
    assert states[0]["Effect"] == "Allow"
    assert actions(states[0]) == {"states:SendTaskSuccess", "states:SendTaskFailure"}
    assert states[0]["Resource"] == {"Ref": machine_id}


def test_slack_interaction_reads_the_secret_and_the_table(template: Template) -> None:
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    statements = handler_statements(template, "tourniquet.approval.handler.slack_interaction")
    by_resource = {json.dumps(st["Resource"], sort_keys=True): actions(st) for st in statements}
    assert by_resource[json.dumps({"Ref": secret_id})] == {"secretsmanager:GetSecretValue"}
    table_actions = by_resource[json.dumps({"Fn::GetAtt": [table_id, "Arn"]}, sort_keys=True)]
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= table_actions


def test_only_slack_interaction_answers_tasks(template: Template) -> None:
    _, slack = function_by_handler(template, "tourniquet.approval.handler.slack_interaction")
    for role in all_roles(template):
        if role == role_of(slack):
            continue
        granted = allowed_actions(role_statements(template, role))
        assert not {a for a in granted if a.startswith("states:SendTask")}, role


def test_diagnostics_are_read_only_apart_from_the_audit_trail(template: Template) -> None:
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    statements = handler_statements(template, "tourniquet.diagnostics.handler.diagnose")
    granted = allowed_actions(statements)
    writes = {action for action in granted if not is_read_only(action)} - RESOURCE_STAR_WRITE_ACTIONS
    assert writes == {"dynamodb:PutItem", "logs:CreateLogStream", "logs:PutLogEvents"}
    (put,) = [st for st in statements if "dynamodb:PutItem" in actions(st)]
    assert put["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert {"ec2:Describe*", "cloudtrail:LookupEvents", "iam:GetInstanceProfile", "iam:GetRole"} <= granted


def test_containment_may_make_only_the_containment_calls(template: Template) -> None:
    granted = allowed_actions(handler_statements(template, "tourniquet.containment.handler.contain"))
    ec2 = {action for action in granted if action.startswith("ec2:")}
    assert ec2 == {*CONTAINMENT_ACTIONS, "ec2:Describe*"}
    assert not {
        action for action in granted if action.startswith(("iam:", "states:", "sns:", "secretsmanager:"))
    }


@pytest.mark.parametrize(
    ("fixture", "tag_key"), [("template", "tourniquet:protected"), ("variant_template", "team:do-not-touch")]
)
def test_containment_never_touches_protected_resources(
    request: pytest.FixtureRequest, fixture: str, tag_key: str
) -> None:
    template: Template = request.getfixturevalue(fixture)
    statements = handler_statements(template, "tourniquet.containment.handler.contain")
    (deny,) = [st for st in statements if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Null": {f"aws:ResourceTag/{tag_key}": "false"}}
    # Every call that acts on an existing resource is covered; creating the empty quarantine group is not.
    assert actions(deny) == set(CONTAINMENT_ACTIONS) - {"ec2:CreateSecurityGroup"}
    covered = json.dumps(deny["Resource"])
    for kind in ("instance/*", "volume/*", "network-interface/*", "security-group/*"):
        assert kind in covered


def test_containment_changes_rules_only_on_the_groups_it_created(template: Template) -> None:
    assert MANAGED_GROUP_TAG == containment_ec2.TAG_MANAGED
    statements = handler_statements(template, "tourniquet.containment.handler.contain")
    rule_statements = [
        st for st in statements if st["Effect"] == "Allow" and actions(st) & set(SECURITY_GROUP_RULE_ACTIONS)
    ]
    on_groups = [st for st in rule_statements if "security-group/*" in json.dumps(st["Resource"])]
    on_rules = [st for st in rule_statements if "security-group-rule/*" in json.dumps(st["Resource"])]
    assert len(on_groups) == 1 and len(on_rules) == 1 and len(rule_statements) == 2
    assert on_groups[0]["Condition"] == {"StringEquals": {f"aws:ResourceTag/{MANAGED_GROUP_TAG}": "true"}}
    assert actions(on_groups[0]) == actions(on_rules[0]) == set(SECURITY_GROUP_RULE_ACTIONS)


def test_containment_writes_are_scoped_to_this_account_and_region(template: Template) -> None:
    statements = handler_statements(template, "tourniquet.containment.handler.contain")
    (allow,) = [st for st in statements if st["Effect"] == "Allow" and "ec2:StopInstances" in actions(st)]
    rendered = json.dumps(allow["Resource"])
    assert '"*"' not in rendered
    assert "AWS::AccountId" in rendered and "AWS::Region" in rendered


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("tourniquet.intake.handler.normalize", set()),
        ("tourniquet.playbooks.handler.plan", set()),
        ("tourniquet.incidents.handler.record", {"dynamodb"}),
        ("tourniquet.incidents.handler.deduplicate", {"dynamodb"}),
        ("tourniquet.notify.handler.notify", {"dynamodb", "secretsmanager", "sns"}),
        ("tourniquet.approval.handler.request_approval", {"dynamodb", "secretsmanager", "sns"}),
    ],
)
def test_services_each_function_may_use(template: Template, handler: str, expected: set[str]) -> None:
    granted = allowed_actions(handler_statements(template, handler))
    services = {action.partition(":")[0] for action in granted} - {"logs", "xray"}
    assert services == expected


def test_functions_write_only_their_own_log_group(template: Template) -> None:
    for lid, fn in resources(template, "AWS::Lambda::Function").items():
        log_group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for statement in role_statements(template, role_of(fn)):
            if any(action.startswith("logs:") for action in actions(statement)):
                assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, lid
