"""The nine functions: one asset, the documented handlers, the pinned runtime and minimal environments."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from stacks.config import PROJECT_ROOT
from stacks.tourniquet_stack import FUNCTIONS, FunctionSpec
from tests.infra.cfn import Template, function_by_handler, only, resources
from tests.infra.conftest import EXISTING_TOPIC_ARN

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"


def documented_handlers() -> set[str]:
    return set(re.findall(r"^\| `(tourniquet\.[\w.]+)`", ARCHITECTURE.read_text(), flags=re.MULTILINE))


def test_the_handlers_are_those_of_the_architecture(template: Template) -> None:
    deployed = {fn["Properties"]["Handler"] for fn in resources(template, "AWS::Lambda::Function").values()}
    assert len(deployed) == 9
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
    assert set(environment) == {"POWERTOOLS_SERVICE_NAME", *spec.environment}
    assert environment["POWERTOOLS_SERVICE_NAME"] == "tourniquet"


def test_environment_values_from_cdk_json(template: Template) -> None:
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    topic_id, _ = only(template, "AWS::SNS::Topic")
    expected = {
        "TABLE_NAME": {"Ref": table_id},
        "DEDUP_WINDOW_SECONDS": "3600",
        "APPROVAL_TIMEOUT_SECONDS": "3600",
        "SLACK_SECRET_ARN": {"Ref": secret_id},
        "SLACK_CHANNEL": "#security-incidents",
        "APPROVERS": "U0SANDBOXAPPROVER",
        "ESCALATION_TOPIC_ARN": {"Ref": topic_id},
        "PROTECTED_TAG_KEY": "tourniquet:protected",
        "DRY_RUN": "false",
    }
    for fn in resources(template, "AWS::Lambda::Function").values():
        for name, value in fn["Properties"]["Environment"]["Variables"].items():
            if name != "POWERTOOLS_SERVICE_NAME":
                assert value == expected[name], name


def test_environment_values_follow_the_config(variant_template: Template) -> None:
    _, interaction = function_by_handler(variant_template, "tourniquet.approval.handler.slack_interaction")
    assert interaction["Properties"]["Environment"]["Variables"]["APPROVERS"] == "U0AAAAAAA,U0BBBBBBB"
    _, approval = function_by_handler(variant_template, "tourniquet.approval.handler.request_approval")
    environment = approval["Properties"]["Environment"]["Variables"]
    assert environment["SLACK_CHANNEL"] == "C0123ABCDEF"
    assert environment["ESCALATION_TOPIC_ARN"] == EXISTING_TOPIC_ARN
    _, plan = function_by_handler(variant_template, "tourniquet.playbooks.handler.plan")
    assert plan["Properties"]["Environment"]["Variables"]["APPROVAL_TIMEOUT_SECONDS"] == "900"
    _, contain = function_by_handler(variant_template, "tourniquet.containment.handler.contain")
    assert contain["Properties"]["Environment"]["Variables"]["DRY_RUN"] == "true"
    assert contain["Properties"]["Environment"]["Variables"]["PROTECTED_TAG_KEY"] == "team:do-not-touch"
    _, dedup = function_by_handler(variant_template, "tourniquet.incidents.handler.deduplicate")
    assert dedup["Properties"]["Environment"]["Variables"]["DEDUP_WINDOW_SECONDS"] == "900"


def test_no_secret_material_in_any_environment(template: Template) -> None:
    for lid, fn in resources(template, "AWS::Lambda::Function").items():
        rendered = json.dumps(fn["Properties"]["Environment"])
        assert "resolve:secretsmanager" not in rendered, lid
        assert not re.search(r"TOKEN|SIGNING|PASSWORD", rendered), lid
