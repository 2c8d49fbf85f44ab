"""Deployed resources keep their CloudFormation logical ids.

CloudFormation tells resources apart by logical id: a resource whose id changes is a new resource, created
next to the old one, which is then deleted. CDK derives the id from the construct path, so moving a construct
changes it. The ids below are those the stack was deployed with (recorded from a synthesis of cdk.json's
configuration); a refactoring that changes one fails here.
"""

from __future__ import annotations

import pytest
from aws_cdk import App, CfnElement, CfnResource, Stack
from constructs import Construct

from stacks import logical_ids
from stacks.logical_ids import GroupedLogicalIds, logical_id
from tests.infra.cfn import Template, resources

# Replacing these loses data, cuts off what points at them from outside, or fails on a fixed name.
STATEFUL: dict[str, set[str]] = {
    # The audit trail, and the keys without which it (and the topics' messages) cannot be read.
    "AWS::DynamoDB::Table": {"TableCD117FA1"},
    "AWS::KMS::Key": {"TableKeyF581D96F", "TopicKeyB2E0C9CB"},
    # Regenerated values: Slack and the webhook senders would hold credentials that no longer verify.
    "AWS::SecretsManager::Secret": {
        "SlackSecretEA96F13F",
        "WebhookSecretF21E29CC",
        "WebhookTokenSeed5FD7BD40",
    },
    # Their subscriptions (the pager, the operators) would be lost.
    "AWS::SNS::Topic": {"AlarmTopicD01E77F9", "EscalationTopic8FD7D57B"},
    # Events EventBridge could not deliver, waiting for a replay.
    "AWS::SQS::Queue": {
        "CloudWatchAlarmsDeadLetters90146FF2",
        "GuardDutyFindingsDeadLetters028D424F",
        "SecurityHubFindingsDeadLetters640ABB5E",
    },
    # The logs the alarms and investigations read.
    "AWS::Logs::LogGroup": {
        "ApiAccessLogsE9DF007D",
        "ContainLogsDBA9B707",
        "DeduplicateLogsCF4426EF",
        "DiagnoseLogsEDA8081C",
        "NormalizeLogs80370236",
        "NotifyLogsC0ABC89F",
        "PlanLogs46AFE57B",
        "RecordLogsDBC0FA65",
        "ReleaseLogs418FA2A6",
        "ReleaseMachineLogsDE602BA5",
        "RequestApprovalLogs36D95E59",
        "SlackInteractionLogs600CE8D9",
        "StateMachineLogs3CB16D3C",
        "WebhookLogs0B55926B",
    },
    # Executions waiting for an approval (up to a week) run on the definition they started with: deleting the
    # state machine stops them, and deleting a function their definition names fails them.
    "AWS::StepFunctions::StateMachine": {"IncidentResponse783F640F", "ReleaseIncident3212372E"},
    "AWS::Lambda::Function": {
        "Contain8B669C04",
        "DeduplicateA02C2A17",
        "DiagnoseEAC028B8",
        "Normalize6F708A14",
        "Notify29C25B1B",
        "PlanDAF4E53A",
        "Record83264F3E",
        "Release6218179A",
        "RequestApproval033EF131",
        "SlackInteractionEDA62323",
        "WebhookB701416B",
    },
    # The API's URL is configured in Slack, Grafana and Alertmanager; an API has one $default stage and one
    # route per key, so a second one cannot be created next to the first.
    "AWS::ApiGatewayV2::Api": {"ApiF70053CD"},
    "AWS::ApiGatewayV2::Stage": {"ApiStage529D6240"},
    "AWS::ApiGatewayV2::Route": {"ApiPOSTslackinteractionsB3248304", "ApiPOSTwebhooksourceF24E2E72"},
    # Named alarms: a replacement would collide with the name it replaces.
    "AWS::CloudWatch::Alarm": {
        "AlarmsApprovalsExpired4F1756C0",
        "AlarmsCloudWatchAlarmsDeadLettersDepth04C617F0",
        "AlarmsContainErrors2DAF5267",
        "AlarmsDeduplicateErrors0870B489",
        "AlarmsDeduplicateThrottles64635402",
        "AlarmsDiagnoseErrorsAFE15241",
        "AlarmsExecutionsAborted7D9A376E",
        "AlarmsExecutionsFailed3048B83D",
        "AlarmsExecutionsTimedOut8208C991",
        "AlarmsGuardDutyFindingsDeadLettersDepth0068E192",
        "AlarmsNormalizeErrors197C8F2C",
        "AlarmsNormalizeThrottles52287B40",
        "AlarmsNotifyErrorsB18D8238",
        "AlarmsPlanErrors35A5AF70",
        "AlarmsRecordErrors35C1FCA7",
        "AlarmsReleaseErrorsBF939C32",
        "AlarmsReleasesFailed48879A85",
        "AlarmsRequestApprovalErrorsD3785EE8",
        "AlarmsSecurityHubFindingsDeadLettersDepthAAA10992",
        "AlarmsSlackInteractionErrorsCFD2FAC1",
        "AlarmsSlackInteractionThrottles3E288A6D",
        "AlarmsWebhookErrorsB50B8540",
        "AlarmsWebhookThrottlesF8AC2749",
    },
}

# Replacing these loses nothing, but turns a deployment that changes nothing into one that replaces every
# role, policy and rule: they keep their ids as well.
STATELESS: dict[str, set[str]] = {
    "AWS::IAM::Role": {
        "ContainRole36645970",
        "DeduplicateRoleDF8898D7",
        "DiagnoseRole2CB70735",
        "IncidentResponseEventsRoleBDEB8FF1",
        "IncidentResponseRole7C047CA1",
        "NormalizeRole1B09252E",
        "NotifyRoleB73FE60E",
        "PlanRole42C4D327",
        "RecordRole700D44B2",
        "ReleaseIncidentRoleE96A842E",
        "ReleaseRoleCAEFCF19",
        "RequestApprovalRoleF0EAAF0A",
        "SlackInteractionRole27AD76D9",
        "WebhookRole875D6A6B",
    },
    "AWS::IAM::Policy": {
        "ContainRoleDefaultPolicyE8974C59",
        "DeduplicateRoleDefaultPolicy21B4FC32",
        "DiagnoseRoleDefaultPolicy48CDBF98",
        "IncidentResponseEventsRoleDefaultPolicy65BC0B56",
        "IncidentResponseRoleDefaultPolicy03EEB1DA",
        "NormalizeRoleDefaultPolicy40114D26",
        "NotifyRoleDefaultPolicyBF67238D",
        "PlanRoleDefaultPolicy0ED737D5",
        "RecordRoleDefaultPolicyE4833CAA",
        "ReleaseIncidentRoleDefaultPolicy9DA7351B",
        "ReleaseRoleDefaultPolicy82777931",
        "RequestApprovalRoleDefaultPolicyBE89C2A3",
        "SlackInteractionRoleDefaultPolicy3A202FB0",
        "WebhookRoleDefaultPolicy9C7E7CF0",
    },
    "AWS::Events::Rule": {
        "CloudWatchAlarms50000BCE",
        "GuardDutyFindings53853645",
        "SecurityHubFindings4340085C",
    },
    "AWS::SQS::QueuePolicy": {
        "CloudWatchAlarmsDeadLettersPolicy99ACEAEF",
        "GuardDutyFindingsDeadLettersPolicy2C3C0027",
        "SecurityHubFindingsDeadLettersPolicy14A7B9B8",
    },
    "AWS::SNS::TopicPolicy": {"AlarmTopicPolicy309DB5F8", "EscalationTopicPolicy8DD1BBC4"},
    "AWS::ApiGatewayV2::Integration": {
        "ApiPOSTslackinteractionsSlackInteractionIntegrationFFFB8E0B",
        "ApiPOSTwebhooksourceWebhookIntegration12BF1088",
    },
    "AWS::Lambda::Permission": {
        "ApiPOSTslackinteractionsSlackInteractionIntegrationPermissionF460A32A",
        "ApiPOSTwebhooksourceWebhookIntegrationPermissionD0D85E8D",
    },
    "AWS::Logs::MetricFilter": {"AlarmsApprovalsExpiredFilterD912947A"},
}


@pytest.mark.parametrize("kind", sorted(STATEFUL))
def test_stateful_resources_keep_their_logical_ids(template: Template, kind: str) -> None:
    assert STATEFUL[kind] <= set(resources(template, kind))


@pytest.mark.parametrize("kind", sorted(STATELESS))
def test_the_other_deployed_resources_keep_their_logical_ids(template: Template, kind: str) -> None:
    assert STATELESS[kind] <= set(resources(template, kind))


def test_the_record_holds_all_106_resources_of_the_deployed_stack() -> None:
    # Resources added later need not be listed; dropping one of the deployed stack's ids from the record would
    # let its change pass unnoticed.
    listed = {lid for ids in (*STATEFUL.values(), *STATELESS.values()) for lid in ids}
    assert len(listed) == 106


@pytest.mark.parametrize(
    "path",
    [
        ["Queue"],
        ["Api", "POST--slack--interactions", "Resource"],
        ["Pipeline", "Pipeline", "Resource"],
        ["Outer", "Default", "Inner"],
        ["Group", "Default"],
        ["A" * 200, "B" * 100, "Resource"],
    ],
    ids=lambda path: "/".join(part[:12] for part in path),
)
def test_logical_id_allocates_as_cdk_does(path: list[str]) -> None:
    stack = Stack(App(), "Stack")
    scope: Construct = stack
    for component in path[:-1]:
        scope = Construct(scope, component)
    element = CfnResource(scope, path[-1], type="AWS::SQS::Queue")
    assert logical_id(path) == stack.resolve(element.logical_id)


class _Grouped(Stack):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.ids = GroupedLogicalIds(["Storage"])

    def _allocate_logical_id(self, cfn_element: CfnElement) -> str:
        return self.ids.allocate(self, cfn_element)


def test_a_grouped_elements_id_leaves_the_group_out_and_is_worked_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worked_out: list[list[str]] = []

    def counted(path: list[str]) -> str:
        worked_out.append(list(path))
        return logical_id(path)

    monkeypatch.setattr(logical_ids, "logical_id", counted)
    stack = _Grouped(App(), "Stack")
    table = CfnResource(Construct(stack, "Storage"), "Table", type="AWS::DynamoDB::Table")
    queue = CfnResource(stack, "Queue", type="AWS::SQS::Queue")

    # CDK asks each time a reference resolves.
    answers = [stack.resolve(element.logical_id) for element in (table, queue, table, table, queue)]

    assert answers == ["Table", "Queue", "Table", "Table", "Queue"]
    assert worked_out == [["Table"], ["Queue"]]
