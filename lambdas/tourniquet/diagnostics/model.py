"""The diagnostic task's input and output, validated at the edge."""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tourniquet import errors
from tourniquet.intake.model import Alert
from tourniquet.state import DiagnosticStatus


class DiagnoseRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    check: str = Field(min_length=1, max_length=64)
    incident_id: str = Field(min_length=1, max_length=128)
    alert: Alert

    @classmethod
    def parse(cls, event: Any) -> DiagnoseRequest:
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
            if all(name.startswith("alert") for name in fields):
                raise errors.InvalidAlert(
                    f"the alert does not match the model: bad or missing {fields}"
                ) from exc
            raise errors.DiagnosticFailed(f"invalid diagnostic request: bad or missing {fields}") from exc


class Finding(TypedDict):
    """What one check found, before it is recorded; every summary has a short ``headline`` for the card."""

    status: DiagnosticStatus
    summary: dict[str, Any]
