"""Triage and the announcements of an incident's changes: the verdict stored with its reasons, one envelope
per change on the SIEM queue with its routing attributes, and the finding's workflow status in Security Hub,
none of which can fail the incident."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from tests.helpers import LAMBDA_CONTEXT, REGION, load_event, moto_client
from tourniquet import aws as tourniquet_aws
from tourniquet import store
from tourniquet.feed.envelope import Envelope
from tourniquet.incidents import dedup, outcome
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.playbooks.plan import make_plan
from tourniquet.settings import Settings
from tourniquet.state import ApprovalResult, Plan, Resolved, Verdict
from tourniquet.triage.handler import triage

IN_SCOPE = Settings(SCOPE_ACCOUNTS="*", SCOPE_REGIONS="eu-west-1,us-east-1")


@pytest.fixture
def queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = moto_client("sqs").create_queue(QueueName="tourniquet-siem")["QueueUrl"]
    monkeypatch.setenv("SIEM_QUEUE_URL", url)
    return url


class SecurityHub:
    """A Security Hub client whose answers the test sets (moto has neither status update)."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stubber(self, region: str = REGION) -> Stubber:
        if region not in self.stubbers:
            # The runtime's session shares its parsed service models: Security Hub's is large.
            client = tourniquet_aws._new_client(
                "securityhub", credentials=tourniquet_aws._own_credentials(), region_name=region
            )
            self.clients[region] = client
            self.stubbers[region] = Stubber(client)
            self.stubbers[region].activate()
        return self.stubbers[region]


@pytest.fixture
def securityhub(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecurityHub]:
    hub = SecurityHub()
    real = tourniquet_aws.client

    def client(service: str, **kwargs: Any) -> Any:
        if service == "securityhub":
            hub.stubber(kwargs.get("region") or REGION)
            return hub.clients[kwargs.get("region") or REGION]
        return real(service, **kwargs)

    monkeypatch.setattr(tourniquet_aws, "client", client)
    yield hub
    for stubber in hub.stubbers.values():
        stubber.assert_no_pending_responses()


def _open(name: str = "guardduty_ec2_finding") -> tuple[Alert, dict[str, Any]]:
    alert = normalize(load_event(name))
    assert isinstance(alert, Alert)
    incident = dedup.fold(alert, window_seconds=3600, execution_id="arn:execution:1")
    plan = make_plan(alert, (), IN_SCOPE)
    event = {
        "incident": incident.as_state(),
        "alert": alert.model_dump(mode="json"),
        "diagnostics": [],
        "plan": plan.as_state(),
    }
    return alert, event


def _messages(url: str) -> list[dict[str, Any]]:
    return (
        moto_client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )


def _events(incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in store.timeline(incident_id) if e["kind"] == kind]


def _asff_update(alert: Alert, status: str) -> dict[str, Any]:
    assert alert.securityhub is not None
    return {
        "FindingIdentifiers": [{"Id": alert.securityhub.id, "ProductArn": alert.securityhub.product}],
        "Workflow": {"Status": status},
        "Note": {"Text": ANY, "UpdatedBy": "Tourniquet"},
    }


def test_triage_stores_the_verdict_and_announces_the_opening(queue: str, securityhub: SecurityHub):
    alert, event = _open()
    securityhub.stubber().add_response(
        "batch_update_findings",
        {"ProcessedFindings": [], "UnprocessedFindings": []},
        _asff_update(alert, "NOTIFIED"),
    )

    verdict = Verdict.model_validate(triage(event, LAMBDA_CONTEXT))

    incident_id = event["incident"]["id"]
    stored = store.get_incident(incident_id) or {}
    assert Verdict.model_validate(stored["verdict"]) == verdict
    assert stored["risk_score"] == verdict.risk_score
    [triaged] = _events(incident_id, "triage")
    assert triaged["reasons"] == [f"{r.points:+d} {r.reason}" for r in verdict.reasons]
    [message] = _messages(queue)
    envelope = Envelope.model_validate_json(message["Body"])
    assert (envelope.change, envelope.incident_id, envelope.verdict) == ("opened", incident_id, verdict)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {
        "incident_id": incident_id,
        "finding_id": alert.finding_id,
        "severity": verdict.severity.value,
        "risk_score": str(verdict.risk_score),
    }
    [sent] = _events(incident_id, "siem")
    assert sent["message_id"] == message["MessageId"]
    [written] = _events(incident_id, "securityhub")
    assert (written["operation"], written["status"], written["result"]) == (
        "BatchUpdateFindings",
        "NOTIFIED",
        "updated",
    )


def test_a_send_failure_is_recorded_and_never_fails_the_incident(
    aws: None, monkeypatch: pytest.MonkeyPatch, securityhub: SecurityHub
):
    monkeypatch.setenv("SIEM_QUEUE_URL", f"https://sqs.{REGION}.amazonaws.com/123456789012/no-such-queue")
    _, event = _open()
    securityhub.stubber().add_response(
        "batch_update_findings", {"ProcessedFindings": [], "UnprocessedFindings": []}
    )

    triage(event, LAMBDA_CONTEXT)

    [sent] = _events(event["incident"]["id"], "siem")
    assert "message_id" not in sent
    assert sent["error"].startswith("SQS refused the message: ")


def test_a_throttled_write_back_is_recorded_not_raised(queue: str, securityhub: SecurityHub):
    _, event = _open()
    securityhub.stubber().add_client_error(
        "batch_update_findings", "ThrottlingException", http_status_code=429
    )

    triage(event, LAMBDA_CONTEXT)

    [written] = _events(event["incident"]["id"], "securityhub")
    assert (written["result"], written["error"]) == ("failed", "ThrottlingException")
    assert len(_messages(queue)) == 1


def test_a_finding_security_hub_does_not_hold_is_recorded_as_unprocessed(
    queue: str, securityhub: SecurityHub
):
    alert, event = _open()
    assert alert.securityhub is not None
    unprocessed = {
        "FindingIdentifier": {"Id": alert.securityhub.id, "ProductArn": alert.securityhub.product},
        "ErrorCode": "FindingNotFound",
        "ErrorMessage": "not found",
    }
    securityhub.stubber().add_response(
        "batch_update_findings", {"ProcessedFindings": [], "UnprocessedFindings": [unprocessed]}
    )

    triage(event, LAMBDA_CONTEXT)

    [written] = _events(event["incident"]["id"], "securityhub")
    assert (written["result"], written["error"]) == ("unprocessed", "FindingNotFound")


def test_the_new_security_hubs_finding_is_updated_by_its_metadata_uid_in_its_region(
    queue: str, securityhub: SecurityHub
):
    alert, event = _open("securityhub_v2_guardduty_ec2")
    assert alert.securityhub is not None and alert.securityhub.api == "ocsf"
    securityhub.stubber(alert.securityhub.region).add_response(
        "batch_update_findings_v2",
        {"ProcessedFindings": [{"MetadataUid": alert.securityhub.id}], "UnprocessedFindings": []},
        {"MetadataUids": [alert.securityhub.id], "StatusId": 2, "Comment": ANY},
    )

    triage(event, LAMBDA_CONTEXT)

    [written] = _events(event["incident"]["id"], "securityhub")
    assert (written["operation"], written["result"], written["region"]) == (
        "BatchUpdateFindingsV2",
        "updated",
        alert.securityhub.region,
    )


def test_contained_decided_and_resolved_are_each_announced(queue: str, securityhub: SecurityHub):
    alert, event = _open()
    stub = securityhub.stubber()
    for status in ("NOTIFIED", "RESOLVED", "RESOLVED"):
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": [], "UnprocessedFindings": []},
            _asff_update(alert, status),
        )
    incident_id = event["incident"]["id"]
    triage(event, LAMBDA_CONTEXT)
    approve = ApprovalResult(decision="approve", by="U0APPROVER")
    plan = Plan.model_validate(event["plan"])

    outcome.record_decision(incident_id, approve)
    closed = outcome.record_outcome(incident_id, plan, approve, "arn:execution:1")
    outcome.record_resolved(
        Resolved(source="guardduty", dedup_key=alert.dedup_key, finding_id=alert.finding_id),
        "arn:execution:2",
    )

    assert closed.status == "contained"
    changes = [Envelope.model_validate_json(m["Body"]).change for m in _messages(queue)]
    assert sorted(changes) == ["closed", "decided", "opened", "resolved"]
    assert [e["status"] for e in _events(incident_id, "securityhub")] == ["NOTIFIED", "RESOLVED", "RESOLVED"]


def test_the_ocsf_form_is_a_valid_detection_finding_with_the_same_attributes(
    queue: str, securityhub: SecurityHub, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SIEM_FORMAT", "ocsf")
    _, event = _open("guardduty_attack_sequence")

    verdict = Verdict.model_validate(triage(event, LAMBDA_CONTEXT))

    [message] = _messages(queue)
    finding = DetectionFinding.model_validate(json.loads(message["Body"]))
    assert finding.finding_info.uid == event["incident"]["id"]
    assert finding.risk_score == verdict.risk_score
    assert message["MessageAttributes"]["risk_score"]["StringValue"] == str(verdict.risk_score)
