"""Slack interactions (POST /slack/interactions): verify, authorize, decide once, answer within Slack's 3 s.

Order matters: nothing in the body is read before its signature is checked on the raw bytes, then the click
must come from the configured workspace and app, and a bad request gets a 4xx, never a 5xx. A click decides
only the approval whose card it was clicked on (the payload's channel and message timestamp are the ones the
approval recorded when it posted the card; for a storm summary's buttons, the summary). A click is answered
with HTTP 200 and, when something needs saying, an ephemeral message to the person who clicked; a click that
may not decide is also recorded on the incident's timeline (``rejected_click``, with its reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from pydantic import ValidationError
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from tourniquet import store
from tourniquet.approval import approvers, batches, card, decisions, records
from tourniquet.approval.decisions import DecisionNotDelivered, Result
from tourniquet.approval.model import (
    ACKNOWLEDGE_ACTION_ID,
    APPROVAL_ID_PATTERN,
    APPROVE_BATCH_ACTION_ID,
    DENY_BATCH_ACTION_ID,
    RELEASE_ACTION_ID,
    ApprovalKind,
    ApprovalStatus,
    Decision,
    InteractionPayload,
)
from tourniquet.approval.records import Approval
from tourniquet.approval.slack_request import BadRequest, HttpResponse, Request, refused
from tourniquet.errors import SlackUnavailable
from tourniquet.logs import logger
from tourniquet.secrets import slack_secret
from tourniquet.settings import get_settings
from tourniquet.slack import Message, Slack, mrkdwn, record_slack_error

# Slack waits 3 s for the answer: each follow-up call gets a tight budget.
SLACK_TIMEOUT_SECONDS = 2

_APPROVAL_ID = re.compile(APPROVAL_ID_PATTERN)
# Where a click came from: a conversation id (C…, G…, D…) and a message timestamp; anything else is none.
_CHANNEL_ID = re.compile(r"[A-Z0-9]{2,32}", re.ASCII)
_MESSAGE_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,8}", re.ASCII)
# Each button: the decision it takes, on which kind of approval.
_BUTTONS = {
    Decision.APPROVE.value: (Decision.APPROVE, ApprovalKind.CONTAIN),
    Decision.DENY.value: (Decision.DENY, ApprovalKind.CONTAIN),
    RELEASE_ACTION_ID: (Decision.APPROVE, ApprovalKind.RELEASE),
    ACKNOWLEDGE_ACTION_ID: (Decision.APPROVE, ApprovalKind.ACKNOWLEDGE),
    APPROVE_BATCH_ACTION_ID: (Decision.APPROVE, ApprovalKind.BATCH),
    DENY_BATCH_ACTION_ID: (Decision.DENY, ApprovalKind.BATCH),
}


def handle(request: Request) -> HttpResponse:
    """The answer to a request read by ``slack_request`` (``callback`` reads it)."""
    try:
        verify_signature(request, _signing_secret)
        payload = parse_payload(request.body)
        check_workspace(payload)
    except BadRequest as exc:
        return refused(exc)
    except SlackUnavailable as exc:
        # Without the signing secret nothing can be verified: refuse, and let Slack show the failure.
        logger.error("slack secret unavailable", extra={"error": str(exc)})
        return HttpResponse(503, {"error": "temporarily unavailable"})
    return _route(payload)


def _signing_secret() -> str:
    return slack_secret().signing_secret.get_secret_value()


def verify_signature(request: Request, signing_secret: Callable[[], str]) -> None:
    """Slack's v0 signature over the raw body: 300 s window, constant-time comparison (``SignatureVerifier``).

    The secret is only fetched once both headers have Slack's own format (epoch seconds in digits, ``v0=``
    and 64 hex digits), so junk requests cost no Secrets Manager call, and ``SignatureVerifier`` never meets
    a timestamp it cannot handle: it raises ``ValueError`` on one that is not an integer and
    ``OverflowError`` on one beyond a float.
    """
    timestamp, signature = request.signature_headers()
    verifier = SignatureVerifier(signing_secret())
    try:
        valid = verifier.is_valid(body=request.body, timestamp=timestamp, signature=signature)
    except (ValueError, OverflowError) as exc:
        # A body that is not UTF-8 (the headers were checked above).
        raise BadRequest(401, "malformed signature headers") from exc
    if not valid:
        raise BadRequest(401, "invalid or expired signature")


def parse_payload(body: bytes) -> InteractionPayload:
    """The ``payload=<json>`` form field of a verified body."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
    except ValueError as exc:
        raise BadRequest(400, "malformed form body") from exc
    values = form.get("payload") or []
    if len(values) != 1 or not values[0].strip():
        raise BadRequest(400, "missing payload")
    try:
        return InteractionPayload.model_validate_json(values[0])
    except ValidationError as exc:
        raise BadRequest(400, "malformed payload") from exc


def check_workspace(payload: InteractionPayload) -> None:
    """The click's team and app must be the configured ``SLACK_TEAM_ID`` and ``SLACK_APP_ID``.

    Fail closed: until both are configured every click is refused, as is a payload that names neither.
    """
    settings = get_settings()
    if not (settings.slack_team_id and settings.slack_app_id):
        logger.error("clicks refused: SLACK_TEAM_ID and SLACK_APP_ID are not configured")
        raise BadRequest(403, "this Slack app is not configured to take decisions")
    team = payload.team.id if payload.team else None
    if team != settings.slack_team_id:
        raise BadRequest(403, "wrong Slack workspace")
    if payload.api_app_id != settings.slack_app_id:
        raise BadRequest(403, "wrong Slack app")


def _route(payload: InteractionPayload) -> HttpResponse:
    action = payload.actions[0] if payload.actions else None
    if payload.type != "block_actions" or action is None or action.action_id not in _BUTTONS:
        logger.info("slack interaction ignored", extra={"type": payload.type})
        return HttpResponse(200)
    decision, kind = _BUTTONS[action.action_id]
    container = payload.container
    click = Click(
        user=payload.user.id,
        decision=decision,
        kind=kind,
        approval_id=action.value or "",
        channel=_matching(_CHANNEL_ID, container.channel_id if container else None),
        message_ts=_matching(_MESSAGE_TS, container.message_ts if container else None),
        team=payload.team.id if payload.team else None,
        app=payload.api_app_id,
    )
    logger.append_keys(
        approval_id=click.approval_id, slack_user=click.user, slack_team=click.team, slack_app=click.app
    )
    return _on_click(click)


def _matching(pattern: re.Pattern[str], value: str | None) -> str | None:
    return value if value is not None and pattern.fullmatch(value) else None


@dataclass(frozen=True)
class Click:
    user: str
    decision: Decision
    kind: ApprovalKind
    approval_id: str
    # The message the button was on (the payload's container), when it reads as one.
    channel: str | None
    message_ts: str | None
    team: str | None
    app: str | None


def _on_click(click: Click) -> HttpResponse:
    slack = _SlackReplies(click)
    approval = records.get(click.approval_id) if _APPROVAL_ID.match(click.approval_id) else None
    if approval is not None and approval.kind is not click.kind:
        # A button never carries another kind's id: such a click names nothing it could decide.
        approval = None
    allowed = approvers.configured(approval.card.plan.approvers if approval else ())
    try:
        authorized = approvers.is_authorized(click.user, allowed, slack.client)
    except SlackUnavailable as exc:
        # Fail closed: without the group's members nobody is authorized through it.
        logger.error("approver groups could not be read", extra={"error": str(exc)})
        return slack.ephemeral(approval, _NOT_CHECKED)
    if not authorized:
        return _rejected(click, approval, slack, "not_authorized", _NOT_AUTHORIZED)
    if approval is None:
        return slack.ephemeral(None, _UNKNOWN)
    elsewhere = _not_on_its_card(click, approval)
    if elsewhere is not None:
        return _rejected(click, approval, slack, *elsewhere)
    try:
        outcome = decisions.decide(click.approval_id, click.decision, click.user)
    except DecisionNotDelivered as exc:
        logger.error("decision not delivered", extra={"error": str(exc)})
        return slack.ephemeral(None, _NOT_DELIVERED)
    return _answer(click, outcome, slack)


def _not_on_its_card(click: Click, approval: Approval) -> tuple[str, str] | None:
    """Why the click may not decide ``approval`` (a reason and what to tell the person), if its button was
    not on the approval's card. A valid signature proves that Slack sent the click, not which card carried
    the button: another approval's card, or no card at all (a forged value)."""
    if not (approval.slack_channel and approval.slack_ts):
        return "card_not_posted", _never_posted(approval)
    if (click.channel, click.message_ts) != (approval.slack_channel, approval.slack_ts):
        return "wrong_message", _WRONG_MESSAGE
    return None


def _answer(click: Click, outcome: decisions.Outcome, slack: _SlackReplies) -> HttpResponse:
    approval = outcome.approval
    if approval is None:
        return slack.ephemeral(None, _UNKNOWN)
    if outcome.result is Result.ALREADY_DECIDED:
        verb = "approved" if approval.status is ApprovalStatus.APPROVED else "denied"
        if approval.kind is ApprovalKind.RELEASE:
            verb = "released"
        elif approval.kind is ApprovalKind.ACKNOWLEDGE:
            verb = "acknowledged"
        who, when = mrkdwn.who_text(approval.decided_by), mrkdwn.when_text(approval.decided_at)
        return slack.ephemeral(approval, f"This was already {verb} by {who} {when}: nothing was changed.")
    if outcome.result is Result.TOO_LATE:
        slack.update_card(approval)
    if outcome.result in (Result.EXPIRED, Result.TOO_LATE):
        return slack.ephemeral(approval, _expired(approval))
    if outcome.result in (Result.ALREADY_APPROVED, Result.MIXED_IDENTITIES):
        return _not_counted(click, outcome.result, approval, slack)
    if outcome.result is Result.PARTIAL:
        slack.update_pending_card(approval)
        if approval.kind is not ApprovalKind.BATCH:
            actions = ", ".join(mrkdwn.escape(action) for action in approval.actions) or "nothing"
            slack.thread_reply(
                approval,
                f"👍 Approved by {mrkdwn.who_text(click.user)} ({_count(approval)}):"
                f" {actions} waits for a different approver.",
            )
        return HttpResponse(200)
    slack.update_card(approval)
    if approval.kind is not ApprovalKind.BATCH:
        # A storm's summary is itself a reply in the card's thread: it shows the decision in place.
        slack.thread_reply(approval, _decision_summary(approval, click.decision))
    return HttpResponse(200)


_UNKNOWN = "This approval is unknown: nothing was changed."


def _not_counted(click: Click, result: Result, approval: Approval, slack: _SlackReplies) -> HttpResponse:
    """An approval that does not count: this person's is already counted, or the approvals so far came
    through the CLI (see ``decisions.identity_kind``), which is recorded like any rejected click."""
    if result is Result.ALREADY_APPROVED:
        return slack.ephemeral(
            approval,
            f"You have already approved this ({_count(approval)}); a different approver must approve."
            " Nothing was changed.",
        )
    text = (
        "This approval was already approved through the CLI (an AWS identity). A Slack user and an AWS"
        " principal cannot be shown to be different people, so the second approval must also come through"
        f" the CLI: `tourniquet approve {approval.incident_id}`. Nothing was changed."
    )
    return _rejected(click, approval, slack, "mixed_identities", text)


def _expired(approval: Approval) -> str:
    if approval.kind is ApprovalKind.ACKNOWLEDGE:
        return "This incident's Acknowledge button expired: nothing was recorded."
    if approval.kind is ApprovalKind.RELEASE:
        return (
            "This release offer expired: nothing was changed."
            f" Release from the CLI: `tourniquet release {approval.incident_id}`."
        )
    return "This approval expired: nothing was changed."


_NOT_CHECKED = "Your approver group membership could not be checked: nothing was changed. Try again."


def _count(approval: Approval) -> str:
    return f"{len(approval.approvals)} of {approval.required_approvals} approvals"


_NOT_DELIVERED = "The decision could not be delivered; the approval is still pending. Try again."


_NOT_AUTHORIZED = "You are not authorized to approve or deny Tourniquet actions."
_WRONG_MESSAGE = "This button is not on this approval's card: nothing was changed."


def _never_posted(approval: Approval) -> str:
    command = f"tourniquet approve {approval.incident_id}"
    if approval.folded:
        # A storm's folded resource: its summary's buttons decide it, or the CLI naming the resource.
        command += f" --resource {mrkdwn.escape(approval.card.plan.target.id or '')}"
    return (
        "This approval's card was never posted, so no button can decide it: nothing was changed."
        f" Decide it with `{command}`."
    )


def _rejected(
    click: Click, approval: Approval | None, slack: _SlackReplies, reason: str, text: str
) -> HttpResponse:
    """A click that may not decide: record the attempt with its reason, change nothing, tell only them."""
    logger.warning("click rejected", extra={"reason": reason, "known_approval": approval is not None})
    if approval is not None:
        store.append_event(
            approval.incident_id,
            "rejected_click",
            actor=click.user,
            approval_id=click.approval_id,
            decision=click.decision.value,
            reason=reason,
            team=click.team,
            channel=click.channel,
            message_ts=click.message_ts,
        )
    return slack.ephemeral(approval, text)


def _resolution(approval: Approval) -> card.Resolution:
    return card.Resolution(
        status=approval.status, by=approval.decided_by, at=approval.decided_at, approvers=approval.approvals
    )


def _decision_summary(approval: Approval, decision: Decision) -> str:
    if approval.kind is ApprovalKind.ACKNOWLEDGE:
        return f"🙋 Taken by {mrkdwn.who_text(approval.decided_by)}, who handles it from here."
    if approval.kind is ApprovalKind.RELEASE:
        who = mrkdwn.people_text(approval.approvals or (approval.decided_by or "unknown",))
        return f"🔓 Release approved by {who}: restoring the recorded before-state; snapshots are kept."
    actions = ", ".join(mrkdwn.escape(action) for action in approval.actions) or "nothing"
    who = mrkdwn.who_text(approval.decided_by)
    if decision is Decision.APPROVE and len(approval.approvals) > 1:
        return f"✅ Approved by {mrkdwn.people_text(approval.approvals)}: running {actions}."
    if decision is Decision.APPROVE:
        return f"✅ Approved by {who}: running {actions}."
    return f"⛔ Denied by {who}: {actions} will not run."


class _SlackReplies:
    """Follow-up Slack calls for one click. A Slack failure is recorded, never answered with an error."""

    def __init__(self, click: Click) -> None:
        self._click = click
        self._slack: Slack | None = None

    def client(self) -> Slack:
        if self._slack is None:
            self._slack = Slack.connect(timeout=SLACK_TIMEOUT_SECONDS)
        return self._slack

    def ephemeral(self, approval: Approval | None, text: str) -> HttpResponse:
        channel = self._click.channel or (approval.slack_channel if approval else None)
        if channel is not None:
            try:
                self.client().ephemeral(channel, self._click.user, text)
            except SlackUnavailable as exc:
                record_slack_error(approval.incident_id if approval else None, exc)
        return HttpResponse(200)

    def update_card(self, approval: Approval) -> None:
        if not approval.slack_channel or not approval.slack_ts:
            return
        message = Message(approval.slack_channel, approval.slack_ts)
        if approval.kind is ApprovalKind.BATCH:
            self._update(approval, message, batches.fallback_text(approval), batches.decided_blocks(approval))
            return
        if approval.kind is ApprovalKind.RELEASE and approval.final is not None:
            blocks = card.release_decided_card(approval.card, approval.final, _resolution(approval))
        elif approval.kind is ApprovalKind.ACKNOWLEDGE and approval.final is not None:
            blocks = card.acknowledged_card(approval.card, approval.final, _resolution(approval))
        else:
            blocks = card.decided_card(approval.card, _resolution(approval))
        try:
            self.client().update(message, card.card_text(approval.card), blocks)
        except SlackUnavailable as exc:
            record_slack_error(approval.incident_id, exc)

    def update_pending_card(self, approval: Approval) -> None:
        """The card with its buttons, and how many approvals it has so far."""
        if not approval.slack_channel or not approval.slack_ts:
            return
        message = Message(approval.slack_channel, approval.slack_ts)
        votes = card.Votes(approval.required_approvals, approval.approvals)
        if approval.kind is ApprovalKind.BATCH:
            self._update(approval, message, batches.fallback_text(approval), batches.pending_blocks(approval))
            return
        if approval.kind is ApprovalKind.RELEASE and approval.final is not None:
            blocks = card.releasable_card(
                approval.card, approval.final, approval.approval_id, approval.deadline, votes
            )
        else:
            blocks = card.approval_card(approval.card, approval.approval_id, approval.deadline, votes)
        try:
            self.client().update(message, card.card_text(approval.card), blocks)
        except SlackUnavailable as exc:
            record_slack_error(approval.incident_id, exc)

    def _update(self, approval: Approval, message: Message, text: str, blocks: list[Block]) -> None:
        try:
            self.client().update(message, text, blocks)
        except SlackUnavailable as exc:
            record_slack_error(approval.incident_id, exc)

    def thread_reply(self, approval: Approval, text: str) -> None:
        if not approval.slack_channel or not approval.slack_ts:
            return
        try:
            self.client().post(approval.slack_channel, text, thread_ts=approval.slack_ts)
        except SlackUnavailable as exc:
            record_slack_error(approval.incident_id, exc)
