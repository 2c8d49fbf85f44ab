"""The buttons of a storm's summary: one decision on the folded resources' approvals waiting when it is
posted (docs/dedup-and-correlation.md).

A summary offers the folded resources waiting when it is posted that no live summary offers yet (up to
:data:`~tourniquet.incidents.storm.LISTED`, each named with its steps; the rest go on the next summary) and
carries one Approve and one Deny button, whose value is the opaque id of a ``batch`` approval naming exactly
those approvals: so no decision reaches a resource its message does not name, and no resource is on two
summaries. Clicks go through the
same path as any approval's (``interaction``), bound to the summary's channel and message; deciding is
``decisions``'. Pure rendering besides :func:`post`.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from tourniquet.approval import card, members, records
from tourniquet.approval.model import APPROVE_BATCH_ACTION_ID, DENY_BATCH_ACTION_ID
from tourniquet.approval.records import Approval
from tourniquet.incidents import storm
from tourniquet.slack import Message, Slack, mrkdwn

BLOCK_ID = "folded_approval"
_SECTION_LIMIT = mrkdwn.SECTION_LIMIT
_BUTTON_TEXT_LIMIT = 75
_CONFIRM_TEXT_LIMIT = 300
# A listed resource's line: ten of them and the counts fit one section, whatever the alerts' ids.
_RESOURCE_LIMIT = 180
_STEPS_LIMIT = 80


def post(slack: Slack, thread: Message, text: str, incident_id: str, asking: str | None = None) -> None:
    """The storm's summary ``text`` in the card's thread, with buttons when folded resources wait that no
    live summary offers yet: the batch is bound to the message once it is posted, and its members know they
    were offered. ``asking``: the approval of the alert that asks for the summary (it is offered first)."""
    unoffered = [member for member in members.waiting(incident_id) if member.offered_in is None]
    if not unoffered:
        slack.post(thread.channel, text, thread_ts=thread.ts)
        return
    # One storm is one playbook, so its resources share their approvers; a resource whose approvers differ
    # (the playbook changed meanwhile) is never decided by people its approvers did not name: it goes on
    # the summary its own alert asks for. The message names every resource its buttons decide.
    first = next((member for member in unoffered if member.approval_id == asking), unoffered[0])
    alike = [member for member in unoffered if member.card.plan.approvers == first.card.plan.approvers]
    offered = alike[: storm.LISTED]
    batch = records.create_batch(offered, (text, waiting_text(offered, len(unoffered) - len(offered))))
    blocks = pending_blocks(batch)
    message = slack.post(thread.channel, fallback_text(batch), blocks=blocks, thread_ts=thread.ts)
    records.set_message(batch.approval_id, message.channel, message.ts)
    for member_id in batch.members:
        records.mark_offered(member_id, batch.approval_id)


def waiting_text(offered: Sequence[Approval], more: int) -> str:
    """The resources the buttons decide, one line each with its steps (each line short enough that all fit
    one section), and how many more wait for the next summary."""
    steps = sum(len(member.actions) for member in offered)
    lines = [f"⏸️ *Waiting for a person*: {_count(steps, 'step')} on {_count(len(offered), 'resource')}"]
    for member in offered:
        target = member.card.plan.target
        where = f"{target.type or 'resource'}, {target.account or '?'} {target.region or '?'}"
        resource = _code(f"{target.id or member.approval_id} ({where})", _RESOURCE_LIMIT)
        lines.append(f"• {resource}: {mrkdwn.clip(mrkdwn.escape(', '.join(member.actions)), _STEPS_LIMIT)}")
    if more:
        lines.append(f"…and {more} more, offered by the next summary")
    return "\n".join(lines)


def _code(text: str, limit: int) -> str:
    quoted = mrkdwn.code(text)
    return quoted if len(quoted) <= limit else mrkdwn.clip(quoted[:-1], limit - 1) + "`"


def fallback_text(batch: Approval) -> str:
    text = f"Storm summary: {_decides(batch)} wait for a decision (incident {batch.incident_id})."
    return mrkdwn.clip(mrkdwn.escape(text), _SECTION_LIMIT)


def pending_blocks(batch: Approval) -> list[Block]:
    """The summary with its buttons, and how far the two-person rule has come."""
    votes = card.Votes(batch.required_approvals, batch.approvals)
    status = [f"⏳ Until {mrkdwn.when_text(batch.deadline)}"]
    if votes.required > 1:
        status.insert(0, card.votes_text(votes))
    return [
        *_sections(batch),
        _buttons(batch),
        ContextBlock(elements=[MarkdownTextObject(text=text) for text in status]),
    ]


def decided_blocks(batch: Approval) -> list[Block]:
    """The summary with its buttons replaced by the decision, so nobody can click twice."""
    resolution = card.Resolution(
        status=batch.status, by=batch.decided_by, at=batch.decided_at, approvers=batch.approvals
    )
    decided = f"{card.resolution_text(resolution)}: {mrkdwn.escape(_decides(batch))}"
    return [*_sections(batch), _section(decided)]


def _sections(batch: Approval) -> list[Block]:
    return [_section(text) for text in batch.sections]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn.clip(text, _SECTION_LIMIT)))


def _decides(batch: Approval) -> str:
    steps = ", ".join(batch.actions)
    return f"{steps} on {_count(len(batch.members), 'folded resource')}"


def _buttons(batch: Approval) -> ActionsBlock:
    resources = _count(len(batch.members), "resource")
    # Plain text: the dialog shows the steps verbatim, never as markup.
    confirm = ConfirmObject(
        title="Run destructive steps?",
        text=PlainTextObject(
            text=card.clip_plain(
                f"Approving runs {', '.join(batch.actions)} on the {resources} this summary counts, each on"
                " its own resource, now. These steps are destructive.",
                _CONFIRM_TEXT_LIMIT,
            )
        ),
        confirm="Approve",
        deny="Cancel",
        style="danger",
    )
    label = f"Approve {', '.join(batch.actions)} on {resources}"
    if len(label) > _BUTTON_TEXT_LIMIT:
        label = f"Approve {_count(len(batch.actions), 'step')} on {resources}"
    return ActionsBlock(
        block_id=BLOCK_ID,
        elements=[
            ButtonElement(
                text=label,
                action_id=APPROVE_BATCH_ACTION_ID,
                value=batch.approval_id,
                style="danger",
                confirm=confirm,
            ),
            ButtonElement(text="Deny", action_id=DENY_BATCH_ACTION_ID, value=batch.approval_id),
        ],
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
