"""The containment task's input, validated at the edge; its result is a list of the state's ActionResult."""

from __future__ import annotations

import re
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from tourniquet import errors
from tourniquet.state import Diagnostic, Plan, Target

Mode = Literal["auto", "approval"]
TargetType = Literal["AwsEc2Instance", "AwsIamAccessKey"]

INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"
ACCESS_KEY_ID_PATTERN = r"^[A-Z0-9]{16,128}$"
# IAM user and role names: the characters IAM allows, at most 64 of them.
IAM_NAME_PATTERN = r"^[\w+=,.@-]{1,64}$"
_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "AwsEc2Instance": re.compile(INSTANCE_ID_PATTERN),
    "AwsIamAccessKey": re.compile(ACCESS_KEY_ID_PATTERN),
}


class ContainTarget(Target):
    """The plan's target as containment accepts it: a resource it can contain, fully named."""

    type: TargetType
    id: str = Field(min_length=1, max_length=128)
    account: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    user_name: str | None = Field(default=None, pattern=IAM_NAME_PATTERN)
    role_name: str | None = Field(default=None, pattern=IAM_NAME_PATTERN)
    principal_type: str | None = Field(default=None, pattern=r"^[A-Za-z]{1,32}$")

    @field_validator("id")
    @classmethod
    def _id_fits_type(cls, value: str, info: ValidationInfo) -> str:
        pattern = _ID_PATTERNS.get(info.data.get("type", ""))
        if pattern is not None and not pattern.fullmatch(value):
            raise ValueError(f"not an id of a {info.data['type']}")
        return value


class ContainRequest(BaseModel):
    """One containment step: the plan's automatic actions (``auto``, right after the plan, which it records
    with the diagnostics it was made from) or its approved ones (``approval``), in the plan's order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    mode: Mode
    incident_id: str = Field(min_length=1, max_length=128)
    plan: Plan
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def actions(self) -> tuple[str, ...]:
        return self.plan.automatic if self.mode == "auto" else self.plan.approval

    @property
    def dry_run(self) -> bool:
        return self.plan.dry_run

    @classmethod
    def parse(cls, event: Any) -> ContainRequest:
        """Validate the task input; a malformed request is a containment failure, never a half-run action."""
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            raise errors.ContainmentFailed(
                f"invalid containment request: bad or missing {_fields(exc)}"
            ) from exc

    def target(self) -> ContainTarget:
        """The plan's target, as containment accepts it (asked only when there is an action to run)."""
        try:
            return ContainTarget.model_validate(self.plan.target.model_dump())
        except ValidationError as exc:
            fields = [f"plan.target.{field}" for field in _fields(exc)]
            raise errors.ContainmentFailed(f"invalid containment request: bad or missing {fields}") from exc


def _fields(exc: ValidationError) -> list[str]:
    return sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})


class Call(TypedDict):
    """One AWS API call, as listed in a dry run and executed for real; ``service`` is EC2 unless named."""

    operation: str
    params: dict[str, Any]
    service: NotRequired[str]
