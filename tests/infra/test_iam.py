"""Least privilege, checked on the synthesized policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.functions import APPROVAL_PARTITIONS
from stacks.member import DIAGNOSTIC_IAM_READS, DIAGNOSTIC_READS
from stacks.storage import TABLE_KEY_ACTIONS
from stacks.topics import TOPIC_KEY_ACTIONS
from stacks.tourniquet_stack import RESOURCE_STAR_WRITE_ACTIONS
from tests.infra.calls import missing_reads, unused_grants
from tests.infra.cfn import (
    MEMBER_ROLE_ACTIONS,
    Template,
    actions,
    allowed_actions,
    arn_text,
    as_list,
    function_by_handler,
    granting,
    member_role_statements,
    one,
    only,
    own_statements,
    rendered,
    resources,
    role_of,
    role_statements,
)
from tests.infra.configs import MANAGEMENT_ACCOUNT, ORGANIZATION_ID, VARIANT_OU

DYNAMODB_ENDPOINT = {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
READ_VERBS = ("Describe", "Get", "List", "Lookup", "Query", "Scan", "BatchGet")
APPROVAL_HANDLERS = (
    "tourniquet.approval.handler.request_approval",
    "tourniquet.approval.callback.slack_interaction",
)
WEBHOOK = "tourniquet.intake.webhook.handle"


def is_read_only(action: str) -> bool:
    _, _, verb = action.partition(":")
    return verb.startswith(READ_VERBS)


def all_roles(template: Template) -> list[str]:
    return list(resources(template, "AWS::IAM::Role"))


def handler_statements(template: Template, handler: str) -> list[dict[str, Any]]:
    """What the handler's function may do itself (assuming a member role is checked on its own)."""
    _, fn = function_by_handler(template, handler)
    return own_statements(role_statements(template, role_of(fn)))


def test_only_diagnose_contain_and_release_assume_a_member_role_each_their_own(template: Template) -> None:
    assuming = {}
    for logical_id, fn in resources(template, "AWS::Lambda::Function").items():
        statements = role_statements(template, role_of(fn))
        for st in statements:
            if set(actions(st)) & MEMBER_ROLE_ACTIONS:
                assert set(actions(st)) == MEMBER_ROLE_ACTIONS, logical_id
                assuming[fn["Properties"]["Handler"]] = json.dumps(st["Resource"])
    assert sorted(assuming) == [
        "tourniquet.containment.handler.contain",
        "tourniquet.containment.handler.release",
        "tourniquet.diagnostics.handler.diagnose",
    ]
    for handler, role in (("contain", "TourniquetContain"), ("release", "TourniquetRelease")):
        assert f":role/{role}" in assuming[f"tourniquet.containment.handler.{handler}"]
    assert ":role/TourniquetDiagnose" in assuming["tourniquet.diagnostics.handler.diagnose"]


# IAM's limit on the inline policies of one role, together, without whitespace.
INLINE_POLICY_LIMIT = 10_240
# And on one customer managed policy.
MANAGED_POLICY_LIMIT = 6_144


@pytest.mark.parametrize("fixture", ["member_template", "variant_member_template"])
def test_each_member_roles_policies_fit_iams_limits(request: pytest.FixtureRequest, fixture: str) -> None:
    # The variant acts in three regions, which lengthen the region conditions.
    template: Template = request.getfixturevalue(fixture)
    for role in all_roles(template):
        size = sum(
            len(json.dumps(rendered(policy["Properties"]["PolicyDocument"]), separators=(",", ":")))
            for policy in resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
        )
        assert 0 < size < INLINE_POLICY_LIMIT * 0.9, (role, size)
    for policy_id, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        size = len(json.dumps(rendered(policy["Properties"]["PolicyDocument"]), separators=(",", ":")))
        assert size < MANAGED_POLICY_LIMIT * 0.9, (policy_id, size)


def roles_granted(template: Template, action: str, resource: Any) -> set[str]:
    return {
        role
        for role in all_roles(template)
        for st in granting(role_statements(template, role), action)
        if resource in as_list(st["Resource"])
    }


# --- across every role -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["template", "member_template"])
def test_no_write_action_on_every_resource_unless_aws_requires_it(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    template: Template = request.getfixturevalue(fixture)
    for role in all_roles(template):
        for statement in role_statements(template, role):
            if statement["Effect"] != "Allow" or "*" not in as_list(statement["Resource"]):
                continue
            writes = {action for action in actions(statement) if not is_read_only(action)}
            assert writes <= RESOURCE_STAR_WRITE_ACTIONS, (
                f"{role}: {sorted(writes - RESOURCE_STAR_WRITE_ACTIONS)}"
            )


@pytest.mark.parametrize("fixture", ["template", "member_template"])
def test_no_service_wide_action_wildcards(request: pytest.FixtureRequest, fixture: str) -> None:
    template: Template = request.getfixturevalue(fixture)
    for role in all_roles(template):
        for action in allowed_actions(role_statements(template, role)):
            _, _, verb = action.partition(":")
            assert action != "*" and verb != "*", f"{role}: {action}"
            if "*" in verb:
                assert is_read_only(action), f"{role}: {action}"


@pytest.mark.parametrize("fixture", ["template", "member_template"])
def test_tourniquets_roles_hold_no_managed_policy_that_allows(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    # What a role may do is its own inline policy; a managed policy on a role only denies (the member roles'
    # backstops), and none is AWS's.
    template: Template = request.getfixturevalue(fixture)
    for policy_id, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        assert not {"Users", "Groups"} & set(policy["Properties"]), policy_id
        if "Roles" in policy["Properties"]:
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            assert {st["Effect"] for st in statements} == {"Deny"}, policy_id
    for role in all_roles(template):
        assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"], role


def test_nobody_deletes_from_the_audit_table(template: Template) -> None:
    for role in all_roles(template):
        granted = allowed_actions(role_statements(template, role))
        assert not granted & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable"}, role


def test_table_key_is_usable_only_through_dynamodb(template: Template) -> None:
    key_id, _ = one(template, "AWS::KMS::Key", "TableKey")
    for role in all_roles(template):
        for st in role_statements(template, role):
            if {"Fn::GetAtt": [key_id, "Arn"]} in as_list(st["Resource"]):
                assert actions(st) == set(TABLE_KEY_ACTIONS), role
                assert st["Condition"] == {"StringEquals": {"kms:ViaService": DYNAMODB_ENDPOINT}}, role


def test_topic_key_is_usable_only_through_sns_by_the_publishers(template: Template) -> None:
    key_id, _ = one(template, "AWS::KMS::Key", "TopicKey")
    topic_id, _ = one(template, "AWS::SNS::Topic", "EscalationTopic")
    users = set()
    for role in all_roles(template):
        for st in role_statements(template, role):
            if {"Fn::GetAtt": [key_id, "Arn"]} in as_list(st["Resource"]):
                assert actions(st) == set(TOPIC_KEY_ACTIONS), role
                assert "sns." in json.dumps(st["Condition"]["StringEquals"]["kms:ViaService"]), role
                users.add(role)
    assert users == roles_granted(template, "sns:Publish", {"Ref": topic_id})
    assert len(users) == 3  # the state machine, RequestApproval and Notify


def test_an_existing_escalation_topic_gets_no_key_grant(variant_template: Template) -> None:
    # The stack's topic key still encrypts the e-mail channel's topic: its publishers alone may use it.
    email_topic, _ = one(variant_template, "AWS::SNS::Topic", "EmailTopic")
    email_publishers = roles_granted(variant_template, "sns:Publish", {"Ref": email_topic})
    assert email_publishers
    for role in set(all_roles(variant_template)) - email_publishers:
        rendered = json.dumps(role_statements(variant_template, role))
        assert "TopicKey" not in rendered, role


def test_functions_write_only_their_own_log_group(template: Template) -> None:
    for lid, fn in resources(template, "AWS::Lambda::Function").items():
        log_group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for statement in role_statements(template, role_of(fn)):
            if any(action.startswith("logs:") for action in actions(statement)):
                assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, lid


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("tourniquet.intake.handler.normalize", set()),
        ("tourniquet.playbooks.handler.plan", set()),
        ("tourniquet.incidents.handler.record", {"dynamodb", "kms", "securityhub", "sqs"}),
        ("tourniquet.triage.handler.triage", {"dynamodb", "kms", "securityhub", "sqs"}),
        ("tourniquet.incidents.handler.deduplicate", {"dynamodb", "kms"}),
        ("tourniquet.notify.handler.notify", {"dynamodb", "kms", "secretsmanager", "sns"}),
        ("tourniquet.approval.handler.request_approval", {"dynamodb", "kms", "secretsmanager", "sns"}),
        ("tourniquet.approval.callback.slack_interaction", {"dynamodb", "kms", "secretsmanager", "states"}),
        (WEBHOOK, {"secretsmanager", "states"}),
        # What they do in a target's account, they do through the member role there.
        ("tourniquet.diagnostics.handler.diagnose", set()),
        ("tourniquet.containment.handler.contain", {"dynamodb", "kms"}),
        ("tourniquet.containment.handler.release", {"dynamodb", "kms", "sqs"}),
    ],
)
def test_services_each_function_may_use(template: Template, handler: str, expected: set[str]) -> None:
    granted = allowed_actions(handler_statements(template, handler))
    services = {action.partition(":")[0] for action in granted} - {"logs", "xray"}
    assert services == expected


# --- secrets ---------------------------------------------------------------------------------------------


def test_each_secret_is_read_only_by_the_functions_that_need_it(template: Template) -> None:
    def readers(prefix: str) -> set[str]:
        secret_id, _ = one(template, "AWS::SecretsManager::Secret", prefix)
        return roles_granted(template, "secretsmanager:GetSecretValue", {"Ref": secret_id})

    def role(handler: str) -> str:
        return role_of(function_by_handler(template, handler)[1])

    assert readers("SlackSecret") == {
        role("tourniquet.approval.handler.request_approval"),
        role("tourniquet.approval.callback.slack_interaction"),
        role("tourniquet.notify.handler.notify"),
    }
    assert readers("WebhookSecret") == {role(WEBHOOK)}
    # Only CloudFormation reads the seed, when it creates the webhook secret.
    assert readers("WebhookTokenSeed") == set()
    for role_id in all_roles(template):
        granted = allowed_actions(role_statements(template, role_id))
        assert not {a for a in granted if a.startswith("secretsmanager:")} - {"secretsmanager:GetSecretValue"}


# --- the HTTP edge ---------------------------------------------------------------------------------------


def test_webhook_may_read_its_secret_and_start_executions_and_nothing_else(template: Template) -> None:
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    secret_id, _ = one(template, "AWS::SecretsManager::Secret", "WebhookSecret")
    statements = [
        st
        for st in handler_statements(template, WEBHOOK)
        if not {a.partition(":")[0] for a in actions(st)} <= {"logs", "xray"}
    ]
    assert sorted((sorted(actions(st)), json.dumps(st["Resource"])) for st in statements) == [
        (["secretsmanager:GetSecretValue"], json.dumps({"Ref": secret_id})),
        (["states:StartExecution"], json.dumps({"Ref": machine_id})),
    ]
    assert all(st["Effect"] == "Allow" and "Condition" not in st for st in statements)


def test_only_the_webhook_the_rules_and_a_release_click_start_executions(template: Template) -> None:
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    release_id, _ = one(template, "AWS::StepFunctions::StateMachine", "ReleaseIncident")
    _, webhook = function_by_handler(template, WEBHOOK)
    _, slack = function_by_handler(template, "tourniquet.approval.callback.slack_interaction")
    starters = roles_granted(template, "states:StartExecution", {"Ref": machine_id})
    (events_role,) = starters - {role_of(webhook)}
    trust = template["Resources"][events_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [st["Principal"] for st in trust] == [{"Service": "events.amazonaws.com"}]
    release_starters = roles_granted(template, "states:StartExecution", {"Ref": release_id})
    assert release_starters == {role_of(slack)}
    for role in all_roles(template):
        granted = allowed_actions(role_statements(template, role))
        assert "states:StartExecution" not in granted or role in starters | release_starters, role


def test_slack_interaction_answers_tasks_and_starts_releases_and_nothing_else(template: Template) -> None:
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    release_id, _ = one(template, "AWS::StepFunctions::StateMachine", "ReleaseIncident")
    statements = handler_statements(template, "tourniquet.approval.callback.slack_interaction")
    states = sorted(
        (sorted(actions(st)), json.dumps(st["Resource"]), st["Effect"])
        for st in statements
        if any(a.startswith("states:") for a in actions(st))
    )
    assert states == [
        (["states:SendTaskFailure", "states:SendTaskSuccess"], json.dumps({"Ref": machine_id}), "Allow"),
        (["states:StartExecution"], json.dumps({"Ref": release_id}), "Allow"),
    ]


def test_only_slack_interaction_answers_tasks(template: Template) -> None:
    _, slack = function_by_handler(template, "tourniquet.approval.callback.slack_interaction")
    for role in all_roles(template):
        if role == role_of(slack):
            continue
        granted = allowed_actions(role_statements(template, role))
        assert not {a for a in granted if a.startswith("states:SendTask")}, role


@pytest.mark.parametrize("handler", APPROVAL_HANDLERS)
def test_approval_functions_touch_only_approvals_and_incidents(template: Template, handler: str) -> None:
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    statements = handler_statements(template, handler)
    (table,) = [st for st in statements if any(a.startswith("dynamodb:") for a in actions(st))]
    assert table["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions(table)
    assert table["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(APPROVAL_PARTITIONS)}
    }
    assert APPROVAL_PARTITIONS == ("APPROVAL#*", "INCIDENT#*")


# --- the hub acts only through member roles --------------------------------------------------------------

# The services a target lives in (tourniquet.aws.MEMBER_SERVICES): reached only through a member role.
TARGET_SERVICES = (
    "ec2:",
    "iam:",
    "autoscaling:",
    "elasticloadbalancing:",
    "cloudtrail:",
    "cloudwatch:",
    "health:",
)


def test_the_hubs_roles_neither_change_nor_read_any_target(template: Template) -> None:
    for role in all_roles(template):
        granted = allowed_actions(role_statements(template, role))
        assert not {action for action in granted if action.startswith(TARGET_SERVICES)}, role
        # Keys: only the table's and the topic's, through their services (tested above); never a grant.
        assert "kms:CreateGrant" not in granted, role


# --- diagnostics -----------------------------------------------------------------------------------------


def test_diagnostics_are_read_only(template: Template) -> None:
    # Their results are recorded by the automatic containment step, with the plan they led to.
    statements = handler_statements(template, "tourniquet.diagnostics.handler.diagnose")
    granted = allowed_actions(statements)
    writes = {action for action in granted if not is_read_only(action)} - RESOURCE_STAR_WRITE_ACTIONS
    assert writes == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert not {action for action in granted if action.startswith(("dynamodb:", "kms:"))}


def test_the_member_diagnose_role_may_make_exactly_the_reads_diagnostics_make(
    member_template: Template,
) -> None:
    statements = member_role_statements(member_template, "diagnose")
    assert all(st["Effect"] == "Allow" for st in statements)
    investigations = allowed_actions(statements)
    assert all(is_read_only(action) for action in investigations)
    assert missing_reads("diagnostics", investigations) == set()
    assert unused_grants("diagnostics", investigations) == set()
    assert investigations == set(DIAGNOSTIC_READS) | set(DIAGNOSTIC_IAM_READS)


def assume_statements(template: Template, handler: str) -> list[dict[str, Any]]:
    _, fn = function_by_handler(template, handler)
    return [st for st in role_statements(template, role_of(fn)) if set(actions(st)) & MEMBER_ROLE_ACTIONS]


def test_by_default_the_hub_assumes_its_member_roles_only_in_its_own_account(template: Template) -> None:
    (statement,) = assume_statements(template, "tourniquet.containment.handler.contain")
    assert statement["Effect"] == "Allow"
    assert "Condition" not in statement
    (resource,) = as_list(statement["Resource"])
    assert arn_text(resource) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/TourniquetContain"


def test_organization_wide_the_hub_assumes_member_roles_only_inside_the_organization(
    variant_template: Template,
) -> None:
    for handler, role in (
        ("tourniquet.diagnostics.handler.diagnose", "TourniquetDiagnose"),
        ("tourniquet.containment.handler.contain", "TourniquetContain"),
        ("tourniquet.containment.handler.release", "TourniquetRelease"),
    ):
        allow, deny = sorted(assume_statements(variant_template, handler), key=lambda st: st["Effect"])
        assert allow["Effect"] == "Allow"
        assert [arn_text(r) for r in as_list(allow["Resource"])] == [
            f"arn:${{AWS::Partition}}:iam::*:role/{role}"
        ]
        assert allow["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION_ID}}
        # Never in the excluded management account, whatever else allows it.
        assert deny["Effect"] == "Deny"
        assert set(actions(deny)) == MEMBER_ROLE_ACTIONS
        assert [arn_text(r) for r in as_list(deny["Resource"])] == [
            f"arn:${{AWS::Partition}}:iam::{MANAGEMENT_ACCOUNT}:role/{role}"
        ]


def test_only_the_functions_that_check_the_scope_read_the_organizations_tree(
    variant_template: Template,
) -> None:
    readers = {}
    for fn in resources(variant_template, "AWS::Lambda::Function").values():
        for st in role_statements(variant_template, role_of(fn)):
            if "organizations:ListParents" in actions(st):
                assert actions(st) == {"organizations:ListParents"}
                readers[fn["Properties"]["Handler"]] = sorted(arn_text(r) for r in as_list(st["Resource"]))
    assert sorted(readers) == [
        "tourniquet.containment.handler.contain",
        "tourniquet.containment.handler.release",
        "tourniquet.diagnostics.handler.diagnose",
        "tourniquet.playbooks.handler.plan",
    ]
    for resources_read in readers.values():
        assert resources_read == [
            f"arn:${{AWS::Partition}}:organizations::*:account/{ORGANIZATION_ID}/*",
            f"arn:${{AWS::Partition}}:organizations::*:ou/{ORGANIZATION_ID}/*",
        ]


def test_the_scope_reaches_the_functions_that_check_it(variant_template: Template) -> None:
    _, fn = function_by_handler(variant_template, "tourniquet.playbooks.handler.plan")
    environment = fn["Properties"]["Environment"]["Variables"]
    assert environment["SCOPE_ACCOUNTS"] == "*"
    assert environment["SCOPE_OUS"] == VARIANT_OU
    assert json.loads(environment["EXCLUDED_ACCOUNTS"]) == {MANAGEMENT_ACCOUNT: "the management account"}
