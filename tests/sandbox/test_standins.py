"""The sandbox answers what moto lacks: Security Hub's status updates (BatchUpdateFindings and
BatchUpdateFindingsV2) and Bedrock's Converse, in the wire formats botocore speaks."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from sandbox.core import Sandbox
from sandbox.standins import MODEL_ID, tool_answer
from tourniquet.triage.model import parse_answer

FINDING = "arn:aws:guardduty:eu-west-1:123456789012:detector/d/finding/sandbox-standin-1"
GUARDDUTY = "arn:aws:securityhub:eu-west-1::product/aws/guardduty"


def test_security_hub_takes_a_workflow_status_and_remembers_it(sandbox: Sandbox):
    securityhub = sandbox.client("securityhub")

    answer = securityhub.batch_update_findings(
        FindingIdentifiers=[{"Id": FINDING, "ProductArn": GUARDDUTY}],
        Workflow={"Status": "NOTIFIED"},
        Note={"Text": "incident inc-1 opened", "UpdatedBy": "Tourniquet"},
    )

    assert answer["ProcessedFindings"] == [{"Id": FINDING, "ProductArn": GUARDDUTY}]
    assert answer["UnprocessedFindings"] == []
    [call] = sandbox.securityhub.calls(FINDING)
    assert (call.operation, call.status, call.note) == (
        "BatchUpdateFindings",
        "NOTIFIED",
        "incident inc-1 opened",
    )
    assert (call.account, call.region) == (sandbox.hub_account, sandbox.region)
    assert sandbox.securityhub.status(FINDING) == "NOTIFIED"


def test_the_new_security_hub_takes_an_ocsf_status_by_metadata_uid(sandbox: Sandbox):
    uid = "arn:aws:securityhub:eu-west-1:123456789012:finding/sandbox-standin-2"

    answer = sandbox.client("securityhub").batch_update_findings_v2(
        MetadataUids=[uid], StatusId=4, Comment="done"
    )

    assert answer["ProcessedFindings"] == [{"MetadataUid": uid}]
    assert sandbox.securityhub.status(uid) == "RESOLVED"


def _converse(sandbox: Sandbox) -> dict:
    return sandbox.client("bedrock-runtime").converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": "<untrusted-data>\n{}\n</untrusted-data>"}]}],
    )


def test_converse_answers_with_a_tool_call_botocore_parses(sandbox: Sandbox):
    response = _converse(sandbox)

    assessment = parse_answer(response)
    assert assessment.severity.value == "MEDIUM"
    assert sandbox.model.requests[-1]["messages"][0]["role"] == "user"


def test_a_scripted_answer_error_and_delay_come_back_as_bedrock_would_send_them(sandbox: Sandbox):
    sandbox.model.script(tool_answer({"summary": "x", "severity": "LOW", "analyst_action_required": False}))
    sandbox.model.script(status=403, error="AccessDeniedException")
    sandbox.model.script(
        tool_answer({"summary": "late", "severity": "LOW", "analyst_action_required": False}), delay=0.3
    )

    assert parse_answer(_converse(sandbox)).summary == "x"
    with pytest.raises(ClientError) as raised:
        _converse(sandbox)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    began = time.monotonic()
    assert parse_answer(_converse(sandbox)).summary == "late"
    assert time.monotonic() - began >= 0.3
