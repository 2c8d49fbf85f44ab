"""The buttons of a storm's summary: one decision on the folded resources' approvals waiting when it is
posted (docs/dedup-and-correlation.md).

A summary lists those resources and their steps (the first :data:`~tourniquet.incidents.storm.LISTED`,
then how many more) and carries one Approve and one Deny button, whose value is the opaque id of a
``batch`` approval naming exactly those approvals: a resource that waits only after the summary was posted
goes on the next one, so no decision reaches a resource its summary did not count. Clicks go through the
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


def post(slack: Slack, thread: Message, text: str, incident_id: str) -> None:
    """The storm's summary ``text`` in the card's thread, with buttons when folded resources wait: the
    batch is bound to the message once it is posted, and its members know they were offered."""
    waiting = members.waiting(incident_id)
    if not waiting:
        slack.post(thread.channel, text, thread_ts=thread.ts)
        return
    # One storm is one playbook, so its resources share their approvers; a resource whose approvers differ
    # (the playbook changed meanwhile) is never decided by people its approvers did not name.
    waiting = [m for m in waiting if m.card.plan.approvers == waiting[0].card.plan.approvers]
    batch = records.create_batch(waiting, (text, waiting_text(waiting, incident_id)))
    blocks = pending_blocks(batch)
    message = slack.post(thread.channel, fallback_text(batch), blocks=blocks, thread_ts=thread.ts)
    records.set_message(batch.approval_id, message.channel, message.ts)
    for member_id in batch.members:
        records.mark_offered(member_id, batch.approval_id)


def waiting_text(waiting: Sequence[Approval], incident_id: str) -> str:
    """The resources the buttons decide, one line each with its steps, and how many more there are."""
    steps = sum(len(member.actions) for member in waiting)
    lines = [f"⏸️ *Waiting for a person*: {_count(steps, 'step')} on {_count(len(waiting), 'resource')}"]
    for member in waiting[: storm.LISTED]:
        target = member.card.plan.target
        where = f"{target.type or 'resource'}, {target.account or '?'} {target.region or '?'}"
        lines.append(
            f"• `{storm.code(f'{target.id or member.approval_id} ({where})')}`:"
            f" {mrkdwn.escape(', '.join(member.actions))}"
        )
    if len(waiting) > storm.LISTED:
        lines.append(
            f"…and {len(waiting) - storm.LISTED} more: `tourniquet incident show {storm.code(incident_id)}`"
        )
    return "\n".join(lines)


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
            text=_clip_plain(
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


def _clip_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
