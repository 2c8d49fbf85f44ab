"""The containment task's input and output, validated at the edge."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tourniquet import errors

Mode = Literal["auto", "approval"]
Status = Literal["done", "unchanged", "planned", "skipped_protected", "refused"]

INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"


class Target(BaseModel):
    """The one resource an action may change; everything it touches is derived from it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["AwsEc2Instance"]
    id: str = Field(pattern=INSTANCE_ID_PATTERN)
    account: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)


class ContainRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    action: str = Field(min_length=1, max_length=64)
    mode: Mode
    incident_id: str = Field(min_length=1, max_length=128)
    target: Target
    dry_run: bool = False

    @classmethod
    def parse(cls, event: Any) -> ContainRequest:
        """Validate the task input; a malformed request is a containment failure, never a half-run action."""
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
            raise errors.ContainmentFailed(f"invalid containment request: bad or missing {fields}") from exc


class Call(TypedDict):
    """One EC2 API call, as listed in a dry run and executed for real."""

    operation: str
    params: dict[str, Any]


class ActionResult(TypedDict):
    action: str
    target: dict[str, str]
    status: Status
    verified: bool
    detail: dict[str, Any]
