"""What the approval step receives (from the workflow and from Slack), validated at the edge.

Only the fields the approval step uses are modelled; anything else in the state is ignored.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tourniquet.intake.model import Alert
from tourniquet.state import ActionResult, Diagnostic, IncidentRef, OptionalVerdict, Plan

APPROVAL_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class ApprovalKind(StrEnum):
    """What an approval lets run: the plan's destructive steps, or the release of what was contained."""

    CONTAIN = "contain"
    RELEASE = "release"
    # Someone takes an incident that nothing was done for: no token, nothing runs, it records who.
    ACKNOWLEDGE = "acknowledge"
    # One decision on the approvals of a storm's folded resources that its summary listed: no token of its
    # own; it decides each of them (``members``), each once.
    BATCH = "batch"


# The Release button's action id; a release is only ever approved, never denied (not clicking is the no).
RELEASE_ACTION_ID = "release"
# The Acknowledge button's action id, on the card of an incident with no automatic action.
ACKNOWLEDGE_ACTION_ID = "acknowledge"
# The buttons of a storm's summary, deciding the folded resources' approvals it lists.
APPROVE_BATCH_ACTION_ID = "approve_folded"
DENY_BATCH_ACTION_ID = "deny_folded"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class _Model(BaseModel):
    # Validation messages never echo input: it holds the task token and untrusted alert text.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class CardContext(_Model):
    """Everything the card shows. Stored with the approval so that later updates re-render the same card."""

    execution_id: str
    incident: IncidentRef
    alert: Alert
    plan: Plan
    diagnostics: tuple[Diagnostic, ...] = ()
    contained: tuple[ActionResult, ...] = ()
    verdict: OptionalVerdict = None


class ApprovalRequest(CardContext):
    """The RequestApproval task input. The token never leaves the server: repr hides it, the card omits it."""

    task_token: str = Field(min_length=1, repr=False)

    def context(self) -> CardContext:
        return CardContext.model_validate(self.model_dump(exclude={"task_token"}))


# Slack interaction payload: https://docs.slack.dev/reference/interaction-payloads/block_actions-payload


class SlackUser(_Model):
    id: str = Field(pattern=r"^[A-Z0-9]{2,32}$")


class SlackTeam(_Model):
    id: str = Field(max_length=32)


class SlackAction(_Model):
    action_id: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=2000)


class SlackContainer(_Model):
    message_ts: str | None = Field(default=None, max_length=32)
    channel_id: str | None = Field(default=None, max_length=32)


class InteractionPayload(_Model):
    type: str = Field(max_length=64)
    user: SlackUser
    team: SlackTeam | None = None
    api_app_id: str | None = Field(default=None, max_length=32)
    actions: tuple[SlackAction, ...] = ()
    container: SlackContainer | None = None
