"""The functions: one asset, the documented handlers, the pinned runtime, reserved concurrency and minimal
environments."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from stacks.bundling import DEPLOYED_PLAYBOOKS
from stacks.config import PROJECT_ROOT
from stacks.functions import FUNCTIONS, FunctionSpec
from tests.infra.cfn import Template, function_by_handler, one, only, resources
from tests.infra.configs import EXISTING_TOPIC_ARN

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"
UNSET_IN_CDK_JSON = {
    "SLACK_TEAM_ID",
    "SLACK_APP_ID",
    "SCOPE_OUS",
    "EXCLUDED_ACCOUNTS",
    "TRIAGE_MODEL_ID",
    "PLAYBOOKS_FILE",
}


def documented_handlers() -> set[str]:
    return set(re.findall(r"^\| `(tourniquet\.[\w.]+)`", ARCHITECTURE.read_text(), flags=re.MULTILINE))


def test_the_handlers_are_those_of_the_architecture(template: Template) -> None:
    deployed = {fn["Properties"]["Handler"] for fn in resources(template, "AWS::Lambda::Function").values()}
    assert len(deployed) == len(FUNCTIONS) == 12
    assert deployed == documented_handlers()


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_handler_string_resolves_to_a_callable(spec: FunctionSpec) -> None:
    module_name, _, attribute = spec.handler.rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


def test_one_asset_for_every_function(template: Template) -> None:
    codes = {
        json.dumps(fn["Properties"]["Code"], sort_keys=True)
        for fn in resources(template, "AWS::Lambda::Function").values()
    }
    assert len(codes) == 1


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_runtime_architecture_limits_tracing_and_logs(template: Template, spec: FunctionSpec) -> None:
    _, fn = function_by_handler(template, spec.handler)
    props = fn["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Timeout"] == spec.timeout_seconds
    assert props["MemorySize"] == spec.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


def test_a_default_deploy_reserves_no_concurrency(template: Template) -> None:
    # Lambda keeps 100 executions unreserved: reservations fail the deploy where the account's quota is low.
    for lid, fn in resources(template, "AWS::Lambda::Function").items():
        assert "ReservedConcurrentExecutions" not in fn["Properties"], lid


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_reserved_concurrency_where_a_flood_could_hurt_when_configured(
    variant_template: Template, spec: FunctionSpec
) -> None:
    _, fn = function_by_handler(variant_template, spec.handler)
    assert fn["Properties"].get("ReservedConcurrentExecutions") == spec.reserved_concurrency


def test_the_flood_exposed_functions_are_capped() -> None:
    capped = {spec.construct_id for spec in FUNCTIONS if spec.reserved_concurrency is not None}
    assert capped == {"Normalize", "Deduplicate", "Webhook", "SlackInteraction"}


def test_each_function_has_its_own_role(template: Template) -> None:
    roles = [
        fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in resources(template, "AWS::Lambda::Function").values()
    ]
    assert len(set(roles)) == len(roles)
    for role in roles:
        # No managed policies: what a function may do is all in the template.
        assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"]


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.construct_id)
def test_environment_holds_only_what_the_function_needs(template: Template, spec: FunctionSpec) -> None:
    _, fn = function_by_handler(template, spec.handler)
    environment = fn["Properties"]["Environment"]["Variables"]
    # cdk.json leaves the Slack workspace and app, OUs and excluded accounts unset: their variables are
    # left out, not empty.
    assert set(environment) == {"POWERTOOLS_SERVICE_NAME", *spec.environment} - UNSET_IN_CDK_JSON
    assert environment["POWERTOOLS_SERVICE_NAME"] == "tourniquet"


def test_environment_values_from_cdk_json(template: Template) -> None:
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    secret_id, _ = one(template, "AWS::SecretsManager::Secret", "SlackSecret")
    webhook_secret_id, _ = one(template, "AWS::SecretsManager::Secret", "WebhookSecret")
    topic_id, _ = one(template, "AWS::SNS::Topic", "EscalationTopic")
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    release_id, _ = one(template, "AWS::StepFunctions::StateMachine", "ReleaseIncident")
    expected = {
        "TABLE_NAME": {"Ref": table_id},
        "DEDUP_WINDOW_SECONDS": "3600",
        "APPROVAL_TIMEOUT_SECONDS": "3600",
        "SLACK_SECRET_ARN": {"Ref": secret_id},
        "WEBHOOK_SECRET_ARN": {"Ref": webhook_secret_id},
        "STATE_MACHINE_ARN": {"Ref": machine_id},
        "SLACK_CHANNEL": "#security-incidents",
        "APPROVERS": "U0PLACEHOLDER",
        "APPROVER_GROUPS": "",
        "TWO_PERSON_ACTIONS": "",
        "ESCALATION_TOPIC_ARN": {"Ref": topic_id},
        "PROTECTED_TAG_KEY": "tourniquet:protected",
        "PROTECTED_PRINCIPALS": "",
        "DRY_RUN": "false",
        "RELEASE_OFFER_SECONDS": str(30 * 24 * 3600),
        "RELEASE_STATE_MACHINE_ARN": {"Ref": release_id},
        "RETENTION_DAYS": "90",
        "WEBHOOK_MAX_ALERTS": "100",
        "SCOPE_ACCOUNTS": {"Ref": "AWS::AccountId"},
        "SCOPE_REGIONS": {"Ref": "AWS::Region"},
        "EXTERNAL_ID": "tourniquet",
        "PROTECTION_WINDOW_HOURS": "24",
        "TRIAGE_MODEL_TIMEOUT_SECONDS": "20",
        "SIEM_FORMAT": "tourniquet",
        "SIEM_QUEUE_URL": {"Ref": one(template, "AWS::SQS::Queue", "SiemFeedQueue")[0]},
    }
    member_roles = {
        "tourniquet.diagnostics.handler.diagnose": "TourniquetDiagnose",
        "tourniquet.containment.handler.contain": "TourniquetContain",
        "tourniquet.containment.handler.release": "TourniquetRelease",
    }
    seen = set()
    for fn in resources(template, "AWS::Lambda::Function").values():
        for name, value in fn["Properties"]["Environment"]["Variables"].items():
            if name == "MEMBER_ROLE_NAME":
                assert value == member_roles[fn["Properties"]["Handler"]]
            elif name != "POWERTOOLS_SERVICE_NAME":
                assert value == expected[name], name
                seen.add(name)
    assert seen == set(expected)


def test_environment_values_follow_the_config(variant_template: Template) -> None:
    _, interaction = function_by_handler(variant_template, "tourniquet.approval.callback.slack_interaction")
    assert {
        name: value
        for name, value in interaction["Properties"]["Environment"]["Variables"].items()
        if name in ("APPROVERS", "APPROVER_GROUPS", "SLACK_TEAM_ID", "SLACK_APP_ID")
    } == {
        "APPROVERS": "U0AAAAAAA,U0BBBBBBB",
        "APPROVER_GROUPS": "S0SECOPS",
        "SLACK_TEAM_ID": "T0123ABCD",
        "SLACK_APP_ID": "A0123ABCD",
    }
    _, approval = function_by_handler(variant_template, "tourniquet.approval.handler.request_approval")
    environment = approval["Properties"]["Environment"]["Variables"]
    assert environment["TWO_PERSON_ACTIONS"] == "stop_instance"
    assert environment["SLACK_CHANNEL"] == "C0123ABCDEF"
    assert environment["ESCALATION_TOPIC_ARN"] == EXISTING_TOPIC_ARN
    _, plan = function_by_handler(variant_template, "tourniquet.playbooks.handler.plan")
    assert plan["Properties"]["Environment"]["Variables"]["APPROVAL_TIMEOUT_SECONDS"] == "900"
    # The team's playbooks file, copied into the asset (stacks.bundling), is what the Plan step reads.
    assert plan["Properties"]["Environment"]["Variables"]["PLAYBOOKS_FILE"] == DEPLOYED_PLAYBOOKS
    _, contain = function_by_handler(variant_template, "tourniquet.containment.handler.contain")
    assert contain["Properties"]["Environment"]["Variables"]["DRY_RUN"] == "true"
    assert contain["Properties"]["Environment"]["Variables"]["PROTECTED_TAG_KEY"] == "team:do-not-touch"
    _, dedup = function_by_handler(variant_template, "tourniquet.incidents.handler.deduplicate")
    assert dedup["Properties"]["Environment"]["Variables"]["DEDUP_WINDOW_SECONDS"] == "900"
    assert dedup["Properties"]["Environment"]["Variables"]["RETENTION_DAYS"] == "30"
    _, webhook = function_by_handler(variant_template, "tourniquet.intake.webhook.handle")
    assert webhook["Properties"]["Environment"]["Variables"]["WEBHOOK_MAX_ALERTS"] == "250"


@pytest.mark.parametrize(
    ("variable", "handlers"),
    [
        # The functions that write approvals, release offers and the records of ignored, resolved and
        # unattached events, which expire after the retention.
        (
            "RETENTION_DAYS",
            {
                "tourniquet.incidents.handler.deduplicate",
                "tourniquet.approval.handler.request_approval",
                "tourniquet.notify.handler.notify",
                "tourniquet.incidents.handler.record",
            },
        ),
        # The most alerts one webhook request may carry (more is answered 413).
        ("WEBHOOK_MAX_ALERTS", {"tourniquet.intake.webhook.handle"}),
    ],
)
def test_retention_and_the_webhook_limit_reach_the_functions_that_apply_them(
    template: Template, variable: str, handlers: set[str]
) -> None:
    receiving = {
        fn["Properties"]["Handler"]
        for fn in resources(template, "AWS::Lambda::Function").values()
        if variable in fn["Properties"]["Environment"]["Variables"]
    }
    assert receiving == handlers


def test_no_secret_material_in_any_environment(template: Template) -> None:
    for lid, fn in resources(template, "AWS::Lambda::Function").items():
        rendered = json.dumps(fn["Properties"]["Environment"])
        assert "resolve:secretsmanager" not in rendered, lid
        assert not re.search(r"TOKEN|SIGNING|PASSWORD", rendered), lid


def test_webhook_environment_is_what_its_handler_reads(template: Template) -> None:
    _, fn = function_by_handler(template, "tourniquet.intake.webhook.handle")
    assert set(fn["Properties"]["Environment"]["Variables"]) == {
        "POWERTOOLS_SERVICE_NAME",
        "TABLE_NAME",
        "WEBHOOK_SECRET_ARN",
        "STATE_MACHINE_ARN",
        "WEBHOOK_MAX_ALERTS",
    }
