"""The SIEM queue, the Security Hub status grant and the model grant, as synthesized."""

from __future__ import annotations

from typing import Any

from tests.infra.cfn import Template, actions, as_list, function_by_handler, one, role_of, role_statements

TRIAGE = "tourniquet.triage.handler.triage"
RECORD = "tourniquet.incidents.handler.record"
DAY_SECONDS = 86_400


def _statements(template: Template, handler: str, action: str) -> list[dict[str, Any]]:
    _, fn = function_by_handler(template, handler)
    return [st for st in role_statements(template, role_of(fn)) if action in actions(st)]


def test_the_siem_queue_is_encrypted_with_its_own_key_kept_two_weeks_and_dead_lettered(template: Template):
    queue_id, queue = one(template, "AWS::SQS::Queue", "SiemFeedQueue")
    dead_id, dead = one(template, "AWS::SQS::Queue", "SiemFeedDeadLetters")
    key_id, key = one(template, "AWS::KMS::Key", "SiemFeedQueueKey")

    for props in (queue["Properties"], dead["Properties"]):
        assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert props["MessageRetentionPeriod"] == 14 * DAY_SECONDS
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    assert key["Properties"]["EnableKeyRotation"] is True
    assert queue_id != dead_id


def test_only_the_announcing_functions_send_to_the_queue_and_only_to_it(template: Template):
    queue_id, _ = one(template, "AWS::SQS::Queue", "SiemFeedQueue")
    senders = set()
    for handler in (
        TRIAGE,
        RECORD,
        "tourniquet.containment.handler.release",
        "tourniquet.notify.handler.notify",
    ):
        for statement in _statements(template, handler, "sqs:SendMessage"):
            assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [queue_id, "Arn"]}]
            senders.add(handler)
    assert senders == {TRIAGE, RECORD, "tourniquet.containment.handler.release"}


def test_security_hub_may_only_be_told_notified_or_resolved_with_a_note(template: Template):
    for handler in (TRIAGE, RECORD):
        statements = _statements(template, handler, "securityhub:BatchUpdateFindings")
        [allow] = [st for st in statements if st["Effect"] == "Allow"]
        denies = [st for st in statements if st["Effect"] == "Deny"]
        [hub] = as_list(allow["Resource"])
        assert ":hub/default" in str(hub)
        conditions = [st["Condition"] for st in denies]
        assert {
            "StringNotEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": ["NOTIFIED", "RESOLVED"]}
        } in conditions
        [fields] = [c["Null"] for c in conditions if "Null" in c]
        assert set(fields) == {
            f"securityhub:ASFFSyntaxPath/{name}"
            for name in (
                "Confidence",
                "Criticality",
                "RelatedFindings",
                "Severity",
                "Types",
                "UserDefinedFields",
                "VerificationState",
            )
        }
        assert set(fields.values()) == {"false"}


def test_security_hub_is_written_in_every_configured_region(variant_template: Template):
    [allow] = [
        st
        for st in _statements(variant_template, TRIAGE, "securityhub:BatchUpdateFindings")
        if st["Effect"] == "Allow"
    ]
    regions = {str(arn).split(":securityhub:")[1].split(":")[0] for arn in as_list(allow["Resource"])}
    assert regions == {"eu-west-1", "us-east-1", "ap-southeast-2"}


def test_no_model_is_granted_unless_one_is_configured(template: Template):
    assert _statements(template, TRIAGE, "bedrock:InvokeModel") == []


def test_the_triage_function_may_invoke_the_configured_model_only(variant_template: Template):
    [statement] = _statements(variant_template, TRIAGE, "bedrock:InvokeModel")
    resources = [str(r) for r in as_list(statement["Resource"])]

    assert actions(statement) == {"bedrock:InvokeModel"}
    assert len(resources) == 2
    assert any("inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0" in r for r in resources)
    assert any(
        ":bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in r for r in resources
    )
    for handler in (RECORD, "tourniquet.notify.handler.notify"):
        assert _statements(variant_template, handler, "bedrock:InvokeModel") == []
