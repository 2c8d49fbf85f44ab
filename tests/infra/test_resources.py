"""The stack's resources: the table and its key, secrets, topics, triggers, the HTTP API and the outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.http_edge import SLACK_INTERACTIONS_PATH, SLACK_THROTTLE, WEBHOOK_PATH, WEBHOOK_THROTTLE
from stacks.storage import INDEX_PARTITION_KEY, INDEX_SORT_KEY
from stacks.triggers import EVENT_RETRY_ATTEMPTS
from tests.infra.cfn import Template, as_list, function_by_handler, one, only, resources
from tourniquet import store

DAY_SECONDS = 24 * 3600


def key_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# --- the table and its key -------------------------------------------------------------------------------


def test_table_keys_billing_recovery_and_ttl(template: Template) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        INDEX_PARTITION_KEY: "S",
        INDEX_SORT_KEY: "S",
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["DeletionProtectionEnabled"] is True
    # The audit trail outlives the stack.
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_incidents_are_indexed_by_type_and_first_seen(template: Template) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    (index,) = table["Properties"]["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": store.INCIDENTS_BY_TYPE_INDEX,
        "KeySchema": [
            {"AttributeName": "gsi1pk", "KeyType": "HASH"},
            {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    # The one `tourniquet incident list` queries.
    assert store.INCIDENTS_BY_TYPE_INDEX == "by-type"
    assert (INDEX_PARTITION_KEY, INDEX_SORT_KEY) == ("gsi1pk", "gsi1sk")


def test_table_is_encrypted_with_its_own_rotating_customer_managed_key(template: Template) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    key_id, key = one(template, "AWS::KMS::Key", "TableKey")
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": key_arn(key_id),
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_table_deletion_protection_follows_the_config(variant_template: Template) -> None:
    _, table = only(variant_template, "AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is False


# --- secrets ---------------------------------------------------------------------------------------------


def test_slack_secret_holds_a_generated_placeholder(template: Template) -> None:
    _, secret = one(template, "AWS::SecretsManager::Secret", "SlackSecret")
    generated = secret["Properties"]["GenerateSecretString"]
    assert set(json.loads(generated["SecretStringTemplate"])) == {"bot_token"}
    assert generated["GenerateStringKey"] == "signing_secret"
    assert "SecretString" not in secret["Properties"]


def test_webhook_secret_holds_two_generated_values_and_none_in_the_template(template: Template) -> None:
    seed_id, seed = one(template, "AWS::SecretsManager::Secret", "WebhookTokenSeed")
    _, secret = one(template, "AWS::SecretsManager::Secret", "WebhookSecret")
    assert seed["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 48}
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "hmac_secret"
    assert generated["ExcludePunctuation"] is True
    # {"bearer_token": "{{resolve:secretsmanager:<seed>:SecretString:::}}"}, resolved by CloudFormation.
    assert generated["SecretStringTemplate"] == {
        "Fn::Join": [
            "",
            ['{"bearer_token":"{{resolve:secretsmanager:', {"Ref": seed_id}, ':SecretString:::}}"}'],
        ]
    }
    for resource in (seed, secret):
        assert "SecretString" not in resource["Properties"]


# --- topics ----------------------------------------------------------------------------------------------


def topic_policy_statements(template: Template, topic_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        policy
        for policy in resources(template, "AWS::SNS::TopicPolicy").values()
        if policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.mark.parametrize("name", ["EscalationTopic", "AlarmTopic"])
def test_topics_use_the_topic_key_and_refuse_plain_http(template: Template, name: str) -> None:
    topic_id, topic = one(template, "AWS::SNS::Topic", name)
    key_id, _ = one(template, "AWS::KMS::Key", "TopicKey")
    assert topic["Properties"]["KmsMasterKeyId"] == key_arn(key_id)
    (deny,) = [st for st in topic_policy_statements(template, topic_id) if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudwatch_alarms_may_publish_to_the_alarm_topic_and_use_its_key(template: Template) -> None:
    topic_id, _ = one(template, "AWS::SNS::Topic", "AlarmTopic")
    (allow,) = [st for st in topic_policy_statements(template, topic_id) if st["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])

    _, key = one(template, "AWS::KMS::Key", "TopicKey")
    assert key["Properties"]["EnableKeyRotation"] is True
    (cloudwatch,) = [
        st
        for st in key["Properties"]["KeyPolicy"]["Statement"]
        if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(as_list(cloudwatch["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # Only on behalf of this account's alarms: never for another account's (no confused deputy).
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_an_existing_escalation_topic_replaces_the_stack_topic(variant_template: Template) -> None:
    # Besides the e-mail channel's topic, which the variant configures.
    (topic_id,) = [
        t for t in resources(variant_template, "AWS::SNS::Topic") if not t.startswith("EmailTopic")
    ]
    assert topic_id.startswith("AlarmTopic")


# --- triggers --------------------------------------------------------------------------------------------

DEFAULT_PATTERNS = {
    "GuardDutyFindings": {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", 4]}]},
    },
    "SecurityHubFindings": {
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Imported"],
        "detail": {
            "findings": {
                "ProductName": ["Inspector", "Macie", "IAM Access Analyzer"],
                "Severity": {"Label": ["HIGH", "CRITICAL"]},
                "RecordState": ["ACTIVE"],
                "Workflow": {"Status": ["NEW", "NOTIFIED"]},
            }
        },
    },
    "SecurityHubOcsfFindings": {
        "source": ["aws.securityhub"],
        "detail-type": ["Findings Imported V2"],
        "detail": {
            "findings": {
                "metadata": {"product": {"name": ["Inspector", "Macie", "IAM Access Analyzer"]}},
                "severity_id": [{"numeric": [">=", 4]}],
                "status_id": [1, 2],
            }
        },
    },
    "SecurityHubCustomAction": {
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Custom Action"],
        "resources": [{"suffix": ":action/custom/SendToTourniquet"}],
    },
    "CloudWatchAlarms": {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": "security-"}], "state": {"value": ["ALARM", "OK"]}},
    },
}


def rules(template: Template) -> dict[str, dict[str, Any]]:
    """Rule construct id → properties."""
    found = {}
    for lid, rule in resources(template, "AWS::Events::Rule").items():
        (name,) = [name for name in DEFAULT_PATTERNS if lid.startswith(name)]
        found[name] = rule["Properties"]
    return found


def test_default_rules_and_their_patterns(template: Template) -> None:
    found = rules(template)
    assert {name: props["EventPattern"] for name, props in found.items()} == DEFAULT_PATTERNS
    assert {props["State"] for props in found.values()} == {"ENABLED"}


def test_rule_patterns_follow_the_config(variant_template: Template) -> None:
    found = rules(variant_template)
    assert found["GuardDutyFindings"]["EventPattern"]["detail"] == {"severity": [{"numeric": [">=", 7]}]}
    findings = found["SecurityHubFindings"]["EventPattern"]["detail"]["findings"]
    assert findings["ProductName"] == ["Macie", "Security Hub"]
    assert findings["Severity"] == {"Label": ["CRITICAL"]}
    ocsf = found["SecurityHubOcsfFindings"]["EventPattern"]["detail"]["findings"]
    assert ocsf["metadata"]["product"]["name"] == ["GuardDuty", "Inspector"]
    assert ocsf["severity_id"] == [{"numeric": [">=", 5]}]
    action = found["SecurityHubCustomAction"]["EventPattern"]["resources"]
    assert action == [{"suffix": ":action/custom/Contain"}, {"suffix": ":action/custom/Isolate"}]
    assert found["CloudWatchAlarms"]["EventPattern"]["detail"]["alarmName"] == [
        {"prefix": "prod-sec-"},
        {"prefix": "pager-"},
    ]


def test_optional_rules_are_off_with_empty_lists(minimal_template: Template) -> None:
    assert set(rules(minimal_template)) == {"GuardDutyFindings"}
    rule_queues = [q for q in resources(minimal_template, "AWS::SQS::Queue") if not q.startswith("SiemFeed")]
    (queue_id,) = rule_queues
    assert queue_id.startswith("GuardDutyFindingsDeadLetters")


@pytest.mark.parametrize("fixture", ["template", "variant_template", "minimal_template"])
def test_every_rule_starts_the_state_machine_with_retries_and_its_own_dead_letter_queue(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    template: Template = request.getfixturevalue(fixture)
    machine_id, _ = one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")
    queues_used = []
    for rule_id, rule in resources(template, "AWS::Events::Rule").items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": machine_id}, rule_id
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": EVENT_RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": DAY_SECONDS,
        }
        queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        queues_used.append(queue_id)
        queue = template["Resources"][queue_id]["Properties"]
        assert queue["SqsManagedSseEnabled"] is True
        assert queue["MessageRetentionPeriod"] == 14 * DAY_SECONDS

        (policy,) = [
            p
            for p in resources(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue_id} in p["Properties"]["Queues"]
        ]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        (deny,) = [st for st in statements if st["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (delivery,) = [st for st in statements if st["Effect"] == "Allow"]
        assert delivery["Principal"] == {"Service": "events.amazonaws.com"}
        # Only this rule may send to this queue.
        assert delivery["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    rule_queues = [q for q in resources(template, "AWS::SQS::Queue") if not q.startswith("SiemFeed")]
    assert sorted(queues_used) == sorted(rule_queues)


# --- the HTTP API ----------------------------------------------------------------------------------------

ROUTES = {
    SLACK_INTERACTIONS_PATH: ("tourniquet.approval.callback.slack_interaction", SLACK_THROTTLE),
    WEBHOOK_PATH: ("tourniquet.intake.webhook.handle", WEBHOOK_THROTTLE),
}


def test_routes_reach_their_functions_with_route_scoped_permissions(template: Template) -> None:
    routes = {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in resources(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {f"POST {path}" for path in ROUTES}
    permissions = list(resources(template, "AWS::Lambda::Permission").values())
    assert len(permissions) == len(ROUTES)
    for path, (handler, _) in ROUTES.items():
        route = routes[f"POST {path}"]
        assert route["AuthorizationType"] == "NONE"  # authenticated in the function (see test_nag)
        integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
        integration = template["Resources"][integration_id]["Properties"]
        function_id, _ = function_by_handler(template, handler)
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert integration["PayloadFormatVersion"] == "2.0"
        (permission,) = [
            p for p in permissions if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        ]
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        # The invoke permission is scoped to this route, not the whole API.
        assert json.dumps(permission["Properties"]["SourceArn"]).endswith(f'"/*/*{path}"]]}}')


def test_stage_is_throttled_per_route(template: Template) -> None:
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": SLACK_THROTTLE.rate_per_second,
        "ThrottlingBurstLimit": SLACK_THROTTLE.burst,
    }
    assert props["RouteSettings"] == {
        f"POST {path}": {"ThrottlingRateLimit": t.rate_per_second, "ThrottlingBurstLimit": t.burst}
        for path, (_, t) in ROUTES.items()
    }
    # Route settings may name only routes that exist already.
    for route_id in resources(template, "AWS::ApiGatewayV2::Route"):
        assert route_id in stage["DependsOn"]


def test_stage_access_log_has_a_retention_and_no_headers_or_bodies(template: Template) -> None:
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["AccessLogSettings"]
    log_group = settings["DestinationArn"]["Fn::GetAtt"][0]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0
    fields = json.loads(settings["Format"])
    assert {"requestId", "ip", "routeKey", "status", "integrationError"} <= set(fields)
    rendered = settings["Format"].lower()
    for leak in ("header", "body", "authorization", "requestoverride"):
        assert leak not in rendered


# --- outputs and tags ------------------------------------------------------------------------------------


def test_outputs(template: Template) -> None:
    outputs = template["Outputs"]
    expected = {
        "TableName": {"Ref": only(template, "AWS::DynamoDB::Table")[0]},
        "StateMachineArn": {"Ref": one(template, "AWS::StepFunctions::StateMachine", "IncidentResponse")[0]},
        "ReleaseStateMachineArn": {
            "Ref": one(template, "AWS::StepFunctions::StateMachine", "ReleaseIncident")[0]
        },
        "EscalationTopicArn": {"Ref": one(template, "AWS::SNS::Topic", "EscalationTopic")[0]},
        "AlarmTopicArn": {"Ref": one(template, "AWS::SNS::Topic", "AlarmTopic")[0]},
        "SlackSecretArn": {"Ref": one(template, "AWS::SecretsManager::Secret", "SlackSecret")[0]},
        "WebhookSecretArn": {"Ref": one(template, "AWS::SecretsManager::Secret", "WebhookSecret")[0]},
        "SiemQueueUrl": {"Ref": one(template, "AWS::SQS::Queue", "SiemFeedQueue")[0]},
        "SiemQueueArn": {"Fn::GetAtt": [one(template, "AWS::SQS::Queue", "SiemFeedQueue")[0], "Arn"]},
    }
    for name, value in expected.items():
        assert outputs[name]["Value"] == value, name
    api_id, _ = only(template, "AWS::ApiGatewayV2::Api")
    for name, suffix in (("SlackInteractionsUrl", SLACK_INTERACTIONS_PATH), ("WebhookUrl", "/webhook/")):
        url = outputs[name]["Value"]["Fn::Join"][1]
        assert url[0] == "https://"
        assert url[1] == {"Ref": api_id}
        assert url[-1] == suffix
    assert set(outputs) == {*expected, "SlackInteractionsUrl", "WebhookUrl"}


def test_everything_the_stack_deploys_is_protected_from_containment(template: Template) -> None:
    taggable = [
        "AWS::DynamoDB::Table",
        "AWS::KMS::Key",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::StepFunctions::StateMachine",
        "AWS::SecretsManager::Secret",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::Events::Rule",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
    ]
    for kind in taggable:
        found = resources(template, kind)
        assert found, kind
        for lid, resource in found.items():
            tags = {tag["Key"]: tag["Value"] for tag in as_list(resource["Properties"].get("Tags", []))}
            assert tags.get("tourniquet:protected") == "true", lid
    for kind in ("AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"):
        for lid, resource in resources(template, kind).items():
            assert resource["Properties"]["Tags"] == {"tourniquet:protected": "true"}, lid
