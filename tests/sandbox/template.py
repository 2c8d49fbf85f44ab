"""A small template shaped like CDK's output, with the resource types and intrinsics the real stack uses."""

from __future__ import annotations

import json
from typing import Any

HANDLERS = "tests.sandbox.handlers"
RULE_SOURCE = "tests.sandbox"
LONG_ROLE_PREFIX = "SlackApiPOSTslackinteractionsSlackInteractionsIntegrationServiceRole"


def _role(service: str) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}
                ],
                "Version": "2012-10-17",
            },
            "ManagedPolicyArns": [
                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/Basic"]]}
            ],
        },
    }


def _function(handler: str, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Code": {
                "S3Bucket": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"},
                "S3Key": "0123456789abcdef.zip",
            },
            "Handler": f"{HANDLERS}.{handler}",
            "Role": {"Fn::GetAtt": ["FunctionRoleA1B2C3D4", "Arn"]},
            "Runtime": "python3.12",
            "Timeout": 30,
            "Description": {
                "Fn::If": ["CDKMetadataAvailable", "never in eu-west-1", {"Ref": "AWS::NoValue"}]
            },
            "MemorySize": 256,
            "Environment": {
                "Variables": {
                    "TABLE_NAME": {"Ref": "Table7ABB3D5C"},
                    "SLACK_SECRET_ARN": {"Ref": "SlackSecret0F2E1A3B"},
                    "POWERTOOLS_SERVICE_NAME": "tourniquet",
                    **(environment or {}),
                }
            },
        },
        "DependsOn": ["FunctionRoleA1B2C3D4"],
    }


def _machine(definition: Any, substitutions: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "DefinitionString": definition,
        "RoleArn": {"Fn::GetAtt": ["MachineRole9C8B7A6D", "Arn"]},
        "LoggingConfiguration": {
            "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["Logs1A2B3C4D", "Arn"]}}}
            ],
            "Level": "ALL",
        },
    }
    if substitutions:
        properties["DefinitionSubstitutions"] = substitutions
    return {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": properties,
        "DependsOn": ["MachineRole9C8B7A6D"],
    }


def _task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields}


# The catch machine's definition is built with Fn::Join around GetAtt, as CDK does for inline tokens.
_CATCH_HEAD = json.dumps(
    {
        "StartAt": "Contain",
        "States": {
            "Contain": _task(
                "@@",
                Catch=[{"ErrorEquals": ["ContainmentFailed"], "ResultPath": "$.error", "Next": "Caught"}],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
).split('"@@"')

RETRY_DEFINITION = json.dumps(
    {
        "StartAt": "Flaky",
        "States": {
            "Flaky": _task(
                "${FlakyArn}",
                Retry=[
                    {"ErrorEquals": ["Throttled"], "IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2}
                ],
                End=True,
            )
        },
    }
)

APPROVAL_DEFINITION = json.dumps(
    {
        "StartAt": "Deduplicate",
        "States": {
            # As in the incident workflow, the workflow state carries the incident from this step on.
            "Deduplicate": {
                "Type": "Pass",
                "Parameters": {"id.$": "$.incident_id"},
                "ResultPath": "$.incident",
                "Next": "RequestApproval",
            },
            "RequestApproval": _task(
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                Parameters={
                    "FunctionName": "${RequestApprovalArn}",
                    "Payload": {
                        "task_token.$": "$$.Task.Token",
                        "execution_id.$": "$$.Execution.Id",
                        "incident_id.$": "$.incident_id",
                        "quiet.$": "$.quiet",
                    },
                },
                TimeoutSeconds=3600,
                ResultPath="$.approval",
                Catch=[
                    {
                        "ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"],
                        "ResultPath": "$.expired",
                        "Next": "Expired",
                    }
                ],
                Next="Decided",
            ),
            "Decided": {"Type": "Pass", "End": True},
            "Expired": {
                "Type": "Pass",
                "Result": {"decision": "expired"},
                "ResultPath": "$.approval",
                "End": True,
            },
        },
    }
)

ECHO_DEFINITION = json.dumps(
    {
        "StartAt": "Echo",
        "States": {
            "Echo": _task("${EchoArn}", ResultPath="$.echo", Next="Publish"),
            "Publish": _task(
                "arn:aws:states:::sns:publish",
                Parameters={"TopicArn": "${TopicArn}", "Message.$": "$.source"},
                ResultPath=None,
                End=True,
            ),
        },
    }
)


def template() -> dict[str, Any]:
    return {
        "Conditions": {
            "CDKMetadataAvailable": {
                "Fn::Or": [
                    {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
                    {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-west-2"]},
                ]
            }
        },
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Resources": {
            "Table7ABB3D5C": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "status", "AttributeType": "S"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by-status",
                            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                },
                "UpdateReplacePolicy": "Retain",
                "DeletionPolicy": "Retain",
            },
            "SlackSecret0F2E1A3B": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "GenerateSecretString": {
                        "SecretStringTemplate": '{"bot_token": "xoxb-replace-me"}',
                        "GenerateStringKey": "signing_secret",
                    }
                },
            },
            "EscalationTopic5E6F7A8B": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"KmsMasterKeyId": "alias/aws/sns"},
            },
            "DeadLetters1C2D3E4F": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
            "Logs1A2B3C4D": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "FunctionRoleA1B2C3D4": _role("lambda.amazonaws.com"),
            "FunctionRolePolicy0A1B2C3D": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Action": "dynamodb:*",
                                "Effect": "Allow",
                                "Resource": {"Fn::GetAtt": ["Table7ABB3D5C", "Arn"]},
                            }
                        ]
                    },
                    "PolicyName": "FunctionRolePolicy",
                    "Roles": [{"Ref": "FunctionRoleA1B2C3D4"}],
                },
            },
            "MachineRole9C8B7A6D": _role({"Fn::Sub": "states.${AWS::Region}.${AWS::URLSuffix}"}),
            "Echo0A1B2C3D": _function(
                "echo",
                {
                    "MARKER": {
                        "Fn::Sub": [
                            "${Stack}:${AWS::Region}:${EscalationTopic5E6F7A8B.TopicName}",
                            {"Stack": {"Ref": "AWS::StackName"}},
                        ]
                    },
                    "TOPIC_ARN": {"Ref": "EscalationTopic5E6F7A8B"},
                    "QUEUE_URL": {"Ref": "DeadLetters1C2D3E4F"},
                    "ZONE": {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
                    "HOST": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "DeadLetters1C2D3E4F"}]}]},
                },
            ),
            "ContainFails4E5F6A7B": _function("contain_fails"),
            "Flaky8C9D0E1F": _function("flaky"),
            "RequestApproval2A3B4C5D": _function("request_approval"),
            "Interaction6E7F8A9B": _function(
                "slack_interaction", {"APPROVERS": "U0SANDBOXAPPROVER, S0APPROVERS"}
            ),
            "CatchMachine1F2E3D4C": _machine(
                {
                    "Fn::Join": [
                        "",
                        [
                            _CATCH_HEAD[0],
                            '"',
                            {"Fn::GetAtt": ["ContainFails4E5F6A7B", "Arn"]},
                            '"',
                            _CATCH_HEAD[1],
                        ],
                    ]
                }
            ),
            "RetryMachine5B6A7C8D": _machine(
                RETRY_DEFINITION, {"FlakyArn": {"Fn::GetAtt": ["Flaky8C9D0E1F", "Arn"]}}
            ),
            "ApprovalMachine9E8D7C6B": _machine(
                APPROVAL_DEFINITION,
                {"RequestApprovalArn": {"Fn::GetAtt": ["RequestApproval2A3B4C5D", "Arn"]}},
            ),
            "EchoMachine3C4D5E6F": _machine(
                ECHO_DEFINITION,
                {
                    "EchoArn": {"Fn::GetAtt": ["Echo0A1B2C3D", "Arn"]},
                    "TopicArn": {"Ref": "EscalationTopic5E6F7A8B"},
                },
            ),
            "EventsRole7D8E9F0A": _role("events.amazonaws.com"),
            # Longer than an IAM role name may be, and alike up to their hash suffix.
            f"{LONG_ROLE_PREFIX}AAAA1111": _role("lambda.amazonaws.com"),
            f"{LONG_ROLE_PREFIX}BBBB2222": _role("lambda.amazonaws.com"),
            "SevereRule1A2B3C4D": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {
                        "source": [RULE_SOURCE],
                        "detail-type": ["Ping"],
                        "detail": {"severity": [{"numeric": [">=", 7]}]},
                    },
                    "State": "ENABLED",
                    "Targets": [
                        {
                            "Arn": {"Ref": "EchoMachine3C4D5E6F"},
                            "Id": "Target0",
                            "RoleArn": {"Fn::GetAtt": ["EventsRole7D8E9F0A", "Arn"]},
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["DeadLetters1C2D3E4F", "Arn"]}},
                        },
                        {"Arn": {"Ref": "EscalationTopic5E6F7A8B"}, "Id": "Target1"},
                    ],
                },
            },
            "NightlyRule5A6B7C8D": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(1 day)",
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Ref": "EchoMachine3C4D5E6F"}, "Id": "Target0"}],
                },
            },
            "ApiF70053CD": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "Api", "ProtocolType": "HTTP"},
            },
            "ApiInteractionsIntegration1A2B": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "ApiF70053CD"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::GetAtt": ["Interaction6E7F8A9B", "Arn"]},
                    "PayloadFormatVersion": "2.0",
                },
            },
            "ApiInteractionsRoute3C4D": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "ApiF70053CD"},
                    "AuthorizationType": "NONE",
                    "RouteKey": "POST /slack/interactions",
                    "Target": {
                        "Fn::Join": ["", ["integrations/", {"Ref": "ApiInteractionsIntegration1A2B"}]]
                    },
                },
            },
            "ApiEchoIntegration5E6F": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "ApiF70053CD"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::GetAtt": ["Echo0A1B2C3D", "Arn"]},
                    "PayloadFormatVersion": "2.0",
                },
            },
            "ApiEchoRoute7A8B": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "ApiF70053CD"},
                    "AuthorizationType": "NONE",
                    "RouteKey": "POST /webhook/{source}",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "ApiEchoIntegration5E6F"}]]},
                },
            },
            "InteractionPermission9C0D": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Fn::GetAtt": ["Interaction6E7F8A9B", "Arn"]},
                    "Principal": "apigateway.amazonaws.com",
                },
            },
            "CDKMetadata": {
                "Type": "AWS::CDK::Metadata",
                "Properties": {"Analytics": "v2:deflate64:H4sI"},
                "Condition": "CDKMetadataAvailable",
            },
        },
    }
