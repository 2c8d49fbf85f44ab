"""The values the workflow carries from step to step, one typed model each.

Every step reads the values it needs from its input through these models and returns one of them, so a
value has one shape wherever it is read: in the handlers, in the notices, on the card and in the CLI. The
JSON field names are the ones the state machines' JSONPaths name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StateModel(BaseModel):
    # Validation messages never echo input: the state holds task tokens and untrusted alert text.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class IncidentRef(StateModel):
    """``$.incident``: the incident an alert opened or folded into (what Deduplicate returns)."""

    id: str = Field(min_length=1, max_length=128)
    duplicate: bool = False
    duplicate_count: int = Field(default=0, ge=0)
    dedup_key: str | None = None
