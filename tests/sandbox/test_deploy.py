"""Deploying a CDK-shaped template: intrinsics, dependency order, what is created, skipped and cached."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox.deploy import CACHE_KEEP, HttpRoute, synth_cache_key, synthesized_template
from sandbox.intrinsics import Binding, Resolver, TemplateError, deployment_order
from tests.sandbox.template import LONG_ROLE_PREFIX

HANDLER = "tests.sandbox.handlers"


def resolver(template=None) -> Resolver:
    resolver = Resolver(
        template or {"Resources": {"Topic": {}, "Queue": {}}},
        region="eu-west-1",
        account_id="123456789012",
        stack_name="Tourniquet",
    )
    resolver.bind(
        "Topic", Binding(ref="arn:aws:sns:eu-west-1:123456789012:alerts", attributes={"TopicName": "alerts"})
    )
    resolver.bind("Queue", Binding(ref="https://sqs/123456789012/q", attributes={"Arn": "arn:aws:sqs:q"}))
    return resolver


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Topic"}, "arn:aws:sns:eu-west-1:123456789012:alerts"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:q"),
        ({"Fn::GetAtt": "Topic.TopicName"}, "alerts"),
        ({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b"]]}, "arn:aws:s3:::b"),
        (
            {"Fn::Sub": "${AWS::Region}/${Topic.TopicName}/${Queue}/${!Literal}"},
            "eu-west-1/alerts/https://sqs/123456789012/q/${Literal}",
        ),
        (
            {"Fn::Sub": ["${Name}-${AWS::AccountId}", {"Name": {"Ref": "AWS::StackName"}}]},
            "Tourniquet-123456789012",
        ),
        ({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}, "b"),
        ({"Fn::Select": [0, {"Fn::GetAZs": ""}]}, "eu-west-1a"),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"Fn::ToJsonString": {"a": [1]}}, '{"a":[1]}'),
        ({"Key": "v", "Gone": {"Ref": "AWS::NoValue"}}, {"Key": "v"}),
        (["a", {"Ref": "AWS::NoValue"}, "b"], ["a", "b"]),
    ],
)
def test_intrinsics_resolve_as_cloudformation_does(expression, expected):
    assert resolver().resolve(expression) == expected


def test_conditions_and_fn_if_are_evaluated():
    template = {
        "Conditions": {
            "InIreland": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
            "Neither": {"Fn::And": [{"Condition": "InIreland"}, {"Fn::Not": [{"Condition": "InIreland"}]}]},
        },
        "Resources": {},
    }
    r = resolver(template)

    assert r.resolve({"Fn::If": ["InIreland", "yes", "no"]}) == "yes"
    assert r.condition("Neither") is False


def test_an_unbound_reference_names_the_logical_id():
    with pytest.raises(TemplateError, match="Missing"):
        resolver({"Resources": {"Missing": {}}}).resolve({"Fn::GetAtt": ["Missing", "Arn"]})


def test_resources_are_ordered_after_what_they_reference():
    resources = {
        "Rule": {"Properties": {"Targets": [{"Arn": {"Ref": "Machine"}}]}},
        "Machine": {"Properties": {"DefinitionString": {"Fn::Sub": "${Fn.Arn}"}}, "DependsOn": "Role"},
        "Fn": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {"Properties": {}},
    }

    order = deployment_order(resources)

    assert order.index("Role") < order.index("Fn") < order.index("Machine") < order.index("Rule")


def test_a_dependency_cycle_is_reported():
    with pytest.raises(TemplateError, match="circular"):
        deployment_order({"A": {"Properties": {"X": {"Ref": "B"}}}, "B": {"Properties": {"X": {"Ref": "A"}}}})


@pytest.mark.parametrize(
    ("route_key", "method", "path", "expected"),
    [
        ("POST /slack/interactions", "POST", "/slack/interactions", {}),
        ("POST /slack/interactions", "GET", "/slack/interactions", None),
        ("POST /webhook/{source}", "POST", "/webhook/grafana", {"source": "grafana"}),
        ("POST /webhook/{source}", "POST", "/webhook/a/b", None),
        ("ANY /files/{proxy+}", "DELETE", "/files/a/b", {"proxy": "a/b"}),
        ("$default", "PUT", "/anything", {}),
    ],
)
def test_http_routes_match_like_api_gateway(route_key, method, path, expected):
    assert HttpRoute(route_key, "fn").match(method, path) == expected


def test_the_template_is_deployed_with_resolved_properties(sandbox):
    deployment = sandbox.deployment
    dynamodb = sandbox.client("dynamodb")

    table = dynamodb.describe_table(TableName=deployment.table_name())["Table"]
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
    ttl = dynamodb.describe_time_to_live(TableName=deployment.table_name())["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"

    echo = deployment.function(f"{HANDLER}.echo")
    configuration = sandbox.client("lambda").get_function_configuration(FunctionName=echo.name)
    variables = configuration["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == deployment.table_name()
    assert variables["SLACK_SECRET_ARN"] == deployment.secret_arn()
    assert variables["TOPIC_ARN"] == deployment.topic_arn()
    assert variables["QUEUE_URL"] == deployment.queue_url("DeadLetters1C2D3E4F")
    assert variables["ZONE"] == "eu-west-1b"
    assert variables["HOST"] == deployment.queue_url("DeadLetters1C2D3E4F").split("/")[2]
    assert variables["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert variables["SLACK_API_URL"] == sandbox.slack.api_url
    assert (
        configuration["Role"]
        == sandbox.client("iam").get_role(RoleName=deployment.physical_id("FunctionRoleA1B2C3D4"))["Role"][
            "Arn"
        ]
    )
    assert configuration["Handler"] == f"{HANDLER}.echo"
    assert configuration["Timeout"] == 30
    assert configuration["Description"] == ""


def test_long_names_are_cut_to_the_service_limit_and_stay_distinct(sandbox):
    names = [
        sandbox.deployment.physical_id(f"{LONG_ROLE_PREFIX}{suffix}") for suffix in ("AAAA1111", "BBBB2222")
    ]

    assert all(len(name) == 64 for name in names)
    assert names[0] != names[1]
    assert [sandbox.client("iam").get_role(RoleName=name)["Role"]["RoleName"] for name in names] == names


def test_state_machine_definitions_are_resolved_from_joins_and_substitutions(sandbox):
    deployment = sandbox.deployment
    stepfunctions = sandbox.client("stepfunctions")

    def definition(logical_id):
        arn = deployment.state_machine_arn(logical_id)
        return json.loads(stepfunctions.describe_state_machine(stateMachineArn=arn)["definition"])

    catch = definition("CatchMachine1F2E3D4C")
    echo = definition("EchoMachine3C4D5E6F")

    assert catch["States"]["Contain"]["Resource"] == deployment.function(f"{HANDLER}.contain_fails").arn
    assert echo["States"]["Echo"]["Resource"] == deployment.function(f"{HANDLER}.echo").arn
    assert echo["States"]["Publish"]["Parameters"]["TopicArn"] == deployment.topic_arn()


def test_the_secret_holds_the_sandbox_slack_credentials(sandbox):
    value = sandbox.client("secretsmanager").get_secret_value(SecretId=sandbox.deployment.secret_arn())

    assert json.loads(value["SecretString"]) == sandbox.slack_credentials
    assert sandbox.slack_credentials["bot_token"].startswith("xoxb-sandbox-")


def test_rules_keep_their_pattern_and_deliver_state_machine_targets_through_a_queue(sandbox):
    deployment = sandbox.deployment
    events = sandbox.client("events")
    [bridge] = deployment.bridges

    rule = events.describe_rule(Name=bridge.rule_name)
    targets = events.list_targets_by_rule(Rule=bridge.rule_name)["Targets"]

    assert json.loads(rule["EventPattern"])["detail"] == {"severity": [{"numeric": [">=", 7]}]}
    assert [target["Arn"].split(":")[2] for target in targets] == ["sqs"]
    assert bridge.state_machine_arn == deployment.state_machine_arn("EchoMachine3C4D5E6F")
    assert "only state machine targets" in deployment.skipped["SevereRule1A2B3C4D/Target1"]
    assert "no schedule fires here" in deployment.skipped["NightlyRule5A6B7C8D/Target0"]
    assert events.describe_rule(Name=deployment.physical_id("NightlyRule5A6B7C8D"))["ScheduleExpression"] == (
        "rate(1 day)"
    )


def test_what_is_not_emulated_is_recorded_as_skipped(sandbox):
    skipped = sandbox.deployment.skipped

    assert skipped["FunctionRolePolicy0A1B2C3D"].startswith("AWS::IAM::Policy")
    assert skipped["Logs1A2B3C4D"].startswith("AWS::Logs::LogGroup")
    assert "condition CDKMetadataAvailable is false" in skipped["CDKMetadata"]
    assert "served by the local HTTP endpoint" in skipped["ApiInteractionsRoute3C4D"]
    assert {route.route_key for route in sandbox.deployment.routes} == {
        "POST /slack/interactions",
        "POST /webhook/{source}",
    }


def test_the_synthesized_template_is_cached_by_the_hash_of_its_inputs(tmp_path):
    (tmp_path / "app.py").write_text("app")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "stack.py").write_text("v1")
    calls = []

    def synthesize(overrides):
        calls.append(overrides)
        return {
            "Tourniquet": {"Resources": {"N": {"Type": "AWS::SNS::Topic"}}, "Overrides": overrides},
            "TourniquetMember": {"Resources": {}},
        }

    first = synthesized_template({"dry_run": True}, root=tmp_path, synthesize=synthesize)
    second = synthesized_template({"dry_run": True}, root=tmp_path, synthesize=synthesize)
    (tmp_path / "stacks" / "stack.py").write_text("v2")
    third = synthesized_template({"dry_run": True}, root=tmp_path, synthesize=synthesize)

    assert (first.cache_hit, second.cache_hit, third.cache_hit) == (False, True, False)
    assert second.template == first.template
    assert second.member_template == first.member_template == {"Resources": {}}
    assert calls == [{"dry_run": True}, {"dry_run": True}]
    assert (tmp_path / ".cache" / "tourniquet" / f"template-{third.key}.json").is_file()
    assert synth_cache_key({"dry_run": False}, root=tmp_path) != third.key


def test_sandboxes_starting_at_once_synthesize_the_same_inputs_once(tmp_path):
    (tmp_path / "app.py").write_text("app")
    calls = []
    started = threading.Barrier(3)

    def synthesize(overrides):
        calls.append(overrides)
        time.sleep(0.2)  # a synthesis takes seconds: the others arrive while it runs
        return {"Tourniquet": {"Resources": {}}, "TourniquetMember": {"Resources": {}}}

    def start() -> bool:
        started.wait()
        return synthesized_template({"dry_run": True}, root=tmp_path, synthesize=synthesize).cache_hit

    with ThreadPoolExecutor(max_workers=3) as pool:
        hits = sorted(pool.map(lambda _: start(), range(3)))

    assert calls == [{"dry_run": True}]
    assert hits == [False, True, True]


def test_the_cache_keeps_only_the_most_recent_templates(tmp_path):
    for version in range(CACHE_KEEP + 3):
        synthesized_template(
            {"version": version}, root=tmp_path, synthesize=lambda overrides: {"Resources": {}}
        )

    kept = sorted((tmp_path / ".cache" / "tourniquet").glob("template-*.json"))
    assert len(kept) == CACHE_KEEP
    assert synthesized_template({"version": CACHE_KEEP + 2}, root=tmp_path, synthesize=dict).cache_hit
