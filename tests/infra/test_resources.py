"""The stack's resources: storage, secret, topic, the GuardDuty rule, the Slack endpoint and the outputs."""

from __future__ import annotations

import json

from stacks.tourniquet_stack import SLACK_INTERACTIONS_PATH
from tests.infra.cfn import Template, as_list, function_by_handler, only, resources


def test_table_keys_billing_recovery_ttl_and_encryption(template: Template) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    # The audit trail outlives the stack.
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_table_deletion_protection_follows_the_config(variant_template: Template) -> None:
    _, table = only(variant_template, "AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_slack_secret_holds_a_generated_placeholder(template: Template) -> None:
    _, secret = only(template, "AWS::SecretsManager::Secret")
    generated = secret["Properties"]["GenerateSecretString"]
    assert set(json.loads(generated["SecretStringTemplate"])) == {"bot_token"}
    assert generated["GenerateStringKey"] == "signing_secret"
    assert "SecretString" not in secret["Properties"]


def test_escalation_topic_is_encrypted_and_refuses_plain_http(template: Template) -> None:
    topic_id, topic = only(template, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"]
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]


def test_an_existing_escalation_topic_replaces_the_stack_topic(variant_template: Template) -> None:
    assert not resources(variant_template, "AWS::SNS::Topic")


def test_guardduty_rule_pattern(template: Template) -> None:
    _, rule = only(template, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", 4]}]},
    }
    assert rule["Properties"]["State"] == "ENABLED"


def test_guardduty_rule_minimum_severity_follows_the_config(variant_template: Template) -> None:
    _, rule = only(variant_template, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"]["detail"] == {"severity": [{"numeric": [">=", 7]}]}


def test_guardduty_rule_starts_the_state_machine_with_retries_and_a_dead_letter_queue(
    template: Template,
) -> None:
    _, rule = only(template, "AWS::Events::Rule")
    machine_id, _ = only(template, "AWS::StepFunctions::StateMachine")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": machine_id}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}

    queue_id, queue = only(template, "AWS::SQS::Queue")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert queue["Properties"]["SqsManagedSseEnabled"] is True

    _, queue_policy = only(template, "AWS::SQS::QueuePolicy")
    statements = queue_policy["Properties"]["PolicyDocument"]["Statement"]
    assert {
        "Effect": "Deny",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }.items() <= next(st for st in statements if st["Effect"] == "Deny").items()
    delivery = next(st for st in statements if st["Effect"] == "Allow")
    assert delivery["Principal"] == {"Service": "events.amazonaws.com"}
    assert "aws:SourceArn" in json.dumps(delivery["Condition"])


def test_slack_interactions_route_reaches_the_interaction_function(template: Template) -> None:
    (route,) = resources(template, "AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"] == f"POST {SLACK_INTERACTIONS_PATH}"
    integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = template["Resources"][integration_id]["Properties"]
    function_id, _ = function_by_handler(template, "tourniquet.approval.handler.slack_interaction")
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"

    (permission,) = resources(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    # The invoke permission is scoped to this route, not the whole API.
    assert SLACK_INTERACTIONS_PATH in json.dumps(permission["Properties"]["SourceArn"])


def test_slack_endpoint_is_throttled(template: Template) -> None:
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


def test_outputs(template: Template) -> None:
    outputs = template["Outputs"]
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    machine_id, _ = only(template, "AWS::StepFunctions::StateMachine")
    topic_id, _ = only(template, "AWS::SNS::Topic")
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    api_id, _ = only(template, "AWS::ApiGatewayV2::Api")
    assert outputs["TableName"]["Value"] == {"Ref": table_id}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": machine_id}
    assert outputs["EscalationTopicArn"]["Value"] == {"Ref": topic_id}
    assert outputs["SlackSecretArn"]["Value"] == {"Ref": secret_id}
    url = outputs["SlackInteractionsUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://"
    assert url[1] == {"Ref": api_id}
    assert url[-1].endswith(SLACK_INTERACTIONS_PATH)


def test_everything_the_stack_deploys_is_protected_from_containment(template: Template) -> None:
    taggable = [
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::StepFunctions::StateMachine",
        "AWS::SecretsManager::Secret",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
    ]
    for kind in taggable:
        for lid, resource in resources(template, kind).items():
            tags = {tag["Key"]: tag["Value"] for tag in as_list(resource["Properties"].get("Tags", []))}
            assert tags.get("tourniquet:protected") == "true", lid
