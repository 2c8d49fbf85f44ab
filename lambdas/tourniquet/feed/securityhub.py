"""The finding's workflow status in Security Hub follows the incident: NOTIFIED when it opens, RESOLVED when
it is contained or resolved, each with a note naming the incident.

Security Hub CSPM (ASFF) takes ``BatchUpdateFindings``; the new Security Hub (OCSF) ``BatchUpdateFindingsV2``
(status 2, In Progress, and 4, Resolved). A member account's finding is held by the hub's Security Hub, the
delegated administrator, in the finding's own region: the call goes there, as the hub. Throttling is
retried by the SDK (adaptive mode paces the calls); nothing here ever fails the incident: every result,
refusals included, is returned for the timeline.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tourniquet import aws
from tourniquet.intake.model import FindingRef

WorkflowStatus = Literal["NOTIFIED", "RESOLVED"]
UPDATED_BY = "Tourniquet"
# OCSF status_id for the new Security Hub.
_V2_STATUS = {"NOTIFIED": 2, "RESOLVED": 4}
_NOTE_LIMIT = 512
# BatchUpdateFindings allows a few requests per second per account and region.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})


@dataclass(frozen=True)
class WriteBack:
    """One status update and how it went: ``updated``, ``unprocessed`` (Security Hub does not hold the
    finding, say) or ``failed`` (the call itself)."""

    api: Literal["asff", "ocsf"]
    operation: str
    status: WorkflowStatus
    finding: str
    account: str
    region: str
    result: Literal["updated", "unprocessed", "failed"]
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def set_status(ref: FindingRef, status: WorkflowStatus, note: str) -> WriteBack:
    client = aws.client("securityhub", region=ref.region, config=_CONFIG)
    note = note[:_NOTE_LIMIT]
    if ref.api == "asff":
        operation = "BatchUpdateFindings"
        call: Any = lambda: client.batch_update_findings(  # noqa: E731 - one call, two shapes
            FindingIdentifiers=[{"Id": ref.id, "ProductArn": ref.product or ""}],
            Workflow={"Status": status},
            Note={"Text": note, "UpdatedBy": UPDATED_BY},
        )
    else:
        operation = "BatchUpdateFindingsV2"
        call = lambda: client.batch_update_findings_v2(  # noqa: E731
            MetadataUids=[ref.id], StatusId=_V2_STATUS[status], Comment=note
        )
    made = functools.partial(
        WriteBack, ref.api, operation, status, ref.id, account=ref.account, region=ref.region
    )
    try:
        response = call()
    except ClientError as exc:
        return made(result="failed", error=aws.error_code(exc) or "error")
    except BotoCoreError as exc:
        return made(result="failed", error=type(exc).__name__)
    unprocessed = response.get("UnprocessedFindings") or []
    if unprocessed:
        first = unprocessed[0] if isinstance(unprocessed[0], dict) else {}
        return made(result="unprocessed", error=str(first.get("ErrorCode") or "unprocessed"))
    return made(result="updated")
