"""The SIEM feed: one message per incident change on the SQS queue the stack creates, routable without
parsing by its attributes (``incident_id``, ``finding_id``, ``severity``, ``risk_score``)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import aws
from tourniquet.feed import ocsf
from tourniquet.feed.envelope import Envelope
from tourniquet.settings import Settings

# SQS message attribute values are at most 256 KiB with the body; ids are short anyway.
_ATTRIBUTE_LIMIT = 1024


class SendFailed(Exception):
    """The queue did not take the message after the SDK's retries; the message is the plain reason."""


def body(envelope: Envelope, settings: Settings) -> str:
    """Tourniquet's envelope (docs/siem-envelope-schema.json) or an OCSF Detection Finding, as configured."""
    if settings.siem_format == "ocsf":
        return ocsf.body(envelope)
    return envelope.model_dump_json(exclude_none=True)


def attributes(envelope: Envelope) -> dict[str, dict[str, str]]:
    found = {
        "incident_id": _string(envelope.incident_id),
        "finding_id": _string(envelope.finding.finding_id),
        "severity": _string(envelope.severity.value),
    }
    if envelope.verdict is not None:
        # Absent until the incident is triaged (a run that failed before Triage).
        found["risk_score"] = {"DataType": "Number", "StringValue": str(envelope.verdict.risk_score)}
    return found


def send(envelope: Envelope, settings: Settings) -> str:
    """Send the envelope; returns the message id. The SDK retries throttling and transient errors (standard
    mode, five attempts) before :class:`SendFailed`."""
    if not settings.siem_queue_url:
        raise SendFailed("no SIEM queue is configured (SIEM_QUEUE_URL)")
    try:
        response = aws.client("sqs").send_message(
            QueueUrl=settings.siem_queue_url,
            MessageBody=body(envelope, settings),
            MessageAttributes=attributes(envelope),
        )
    except ClientError as exc:
        raise SendFailed(f"SQS refused the message: {aws.error_code(exc) or 'error'}") from exc
    except BotoCoreError as exc:
        raise SendFailed(f"SQS could not be reached: {type(exc).__name__}") from exc
    return str(response["MessageId"])


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value[:_ATTRIBUTE_LIMIT]}
