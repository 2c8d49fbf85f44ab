"""Stand-ins for the APIs moto lacks that the workflow calls: Security Hub's ``BatchUpdateFindings`` and
``BatchUpdateFindingsV2`` (moto's Security Hub has neither), and Bedrock's Converse (moto's bedrock-runtime
answers ``InvokeModel`` only, with an empty result).

:func:`install` routes those requests, by their REST paths, to a :class:`SecurityHubStandIn` and a
:class:`ConverseStandIn` before moto sees them; every other request goes on to moto.

* The Security Hub stand-in holds every finding it is asked about (as a delegated administrator holds its
  members'), records each call (:class:`WriteBackCall`: the caller's account, the region, the findings, the
  status and the note) and keeps each finding's current workflow status.
* The Converse stand-in answers as a cautious model would, from the quoted document in the request: a
  summary, the verdict's severity, whether an analyst must look, one next step and the first evidence id. A
  test can script its next answers (:meth:`ConverseStandIn.script`): any body, a delay, an error.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from sandbox.patches import Patcher

MODEL_ID = "sandbox.converse-stand-in"
_CONVERSE = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_WRITE_BACK_PATHS = {
    "/findings/batchupdate": "BatchUpdateFindings",
    "/findingsv2/batchupdatev2": "BatchUpdateFindingsV2",
}
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")
_DATA = re.compile(r"<untrusted-data>\n(.*)\n</untrusted-data>", re.DOTALL)
_V2_STATUS = {2: "NOTIFIED", 4: "RESOLVED"}

Wsgi = Callable[[dict[str, Any], Any], list[bytes]]


@dataclass(frozen=True)
class WriteBackCall:
    """One status update Security Hub received."""

    operation: str
    account: str
    region: str
    findings: tuple[str, ...]
    status: str
    note: str

    def as_report(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "account": self.account,
            "region": self.region,
            "findings": list(self.findings),
            "status": self.status,
            "note": self.note,
        }


class SecurityHubStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[WriteBackCall] = []
        self._status: dict[str, str] = {}

    def calls(self, finding: str | None = None) -> list[WriteBackCall]:
        with self._lock:
            return [c for c in self._calls if finding is None or finding in c.findings]

    def status(self, finding: str) -> str | None:
        """The finding's workflow status as last set (NOTIFIED, RESOLVED), if it was."""
        with self._lock:
            return self._status.get(finding)

    def answer(self, operation: str, request: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        if operation == "BatchUpdateFindings":
            identifiers = request.get("FindingIdentifiers") or []
            findings = tuple(str(i.get("Id")) for i in identifiers)
            status = str((request.get("Workflow") or {}).get("Status") or "")
            note = str((request.get("Note") or {}).get("Text") or "")
            processed: list[dict[str, Any]] = list(identifiers)
        else:
            findings = tuple(str(uid) for uid in request.get("MetadataUids") or [])
            status = _V2_STATUS.get(int(request.get("StatusId") or 0), str(request.get("StatusId")))
            note = str(request.get("Comment") or "")
            processed = [{"MetadataUid": uid} for uid in findings]
        with self._lock:
            self._calls.append(WriteBackCall(operation, account, region, findings, status, note))
            for finding in findings:
                self._status[finding] = status
        return {"ProcessedFindings": processed, "UnprocessedFindings": []}


@dataclass
class Scripted:
    """One scripted Converse answer: a body (or an error), after a delay."""

    body: dict[str, Any] | None = None
    delay: float = 0.0
    status: int = 200
    error: str | None = None


@dataclass
class ConverseStandIn:
    requests: list[dict[str, Any]] = field(default_factory=list)
    _script: deque[Scripted] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(
        self,
        body: dict[str, Any] | None = None,
        *,
        delay: float = 0.0,
        status: int = 200,
        error: str | None = None,
    ) -> None:
        """The next answer: ``body`` as the Converse response (or an ``error`` with ``status``)."""
        with self._lock:
            self._script.append(Scripted(body, delay, status, error))

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any], str | None]:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        if scripted is None:
            return 200, tool_answer(cautious_assessment(request)), None
        if scripted.delay:
            time.sleep(scripted.delay)
        if scripted.error is not None:
            return scripted.status, {"message": scripted.error}, scripted.error
        return scripted.status, scripted.body or {}, None


def tool_answer(assessment: dict[str, Any], name: str = "record_assessment") -> dict[str, Any]:
    """A Converse response whose answer is one call of the tool ``name`` with ``assessment``."""
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "tooluse-sandbox", "name": name, "input": assessment}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
        "metrics": {"latencyMs": 1},
    }


def quoted_document(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON document the request quotes between its data markers."""
    for message in request.get("messages") or []:
        for block in message.get("content") or []:
            found = _DATA.search(str(block.get("text") or ""))
            if found:
                document: dict[str, Any] = json.loads(found.group(1))
                return document
    return {}


def cautious_assessment(request: dict[str, Any]) -> dict[str, Any]:
    """What the stand-in says of a document: it reads the verdict's facts, never the alert's words."""
    document = quoted_document(request)
    verdict = document.get("verdict") or {}
    alert = document.get("alert") or {}
    risk = int(verdict.get("risk_score") or 0)
    resources = alert.get("resources") or [{}]
    subject = resources[0].get("id") or alert.get("account") or "the account"
    return {
        "summary": f"{alert.get('product')} reports {alert.get('type')} on {subject}; the verdict scores "
        f"it {risk}/100.",
        "severity": verdict.get("severity") or "MEDIUM",
        "analyst_action_required": risk >= 50,
        "next_steps": ["Compare with the other findings on the same resource over the last week."],
        "evidence": ["E1"],
        "reason": "",
    }


def _caller(environ: dict[str, Any]) -> tuple[str, str]:
    found = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if found is None:
        return "123456789012", "us-east-1"
    return get_account_id_from(found.group(1)), found.group(2)


def _json_app(status: int, body: dict[str, Any], error: str | None) -> Wsgi:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        data = json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if error is not None:
            headers.append(("x-amzn-ErrorType", error))
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", headers)
        return [data]

    return app


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b"{}"
    parsed = json.loads(raw or b"{}")
    return parsed if isinstance(parsed, dict) else {}


def install(patcher: Patcher, securityhub: SecurityHubStandIn, model: ConverseStandIn) -> None:
    """Answer Security Hub's status updates and Converse here; everything else goes to moto."""
    original = DomainDispatcherApplication.get_application

    def get_application(self: DomainDispatcherApplication, environ: dict[str, Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", ""))
        if method == "PATCH" and path in _WRITE_BACK_PATHS:
            account, region = _caller(environ)
            answer = securityhub.answer(_WRITE_BACK_PATHS[path], _body(environ), account, region)
            return _json_app(200, answer, None)
        if method == "POST" and _CONVERSE.match(path):
            return _json_app(*model.answer(_body(environ)))
        return original(self, environ)

    patcher.set(DomainDispatcherApplication, "get_application", get_application)
