"""The Slack approval card (Block Kit), built from the workflow state. Pure functions: no AWS, no Slack calls.

Every alert field is untrusted: text is escaped so that a finding title cannot mention ``@channel``, forge a
link or a user mention, and clipped to Slack's limits so that a long field cannot make the post fail.
The buttons carry only the opaque approval id, never the task token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from tourniquet.approval.model import ACKNOWLEDGE_ACTION_ID, RELEASE_ACTION_ID, ApprovalStatus, CardContext
from tourniquet.slack.mrkdwn import (
    FIELD_LIMIT,
    NEEDS_A_HUMAN,
    SECTION_LIMIT,
    SEVERITY_EMOJI,
    decision_text,
    mark,
    people_text,
    verdict_line,
    when_text,
    who_text,
)

# card.clip and card.escape, as the storm summary in notify uses them.
from tourniquet.slack.mrkdwn import clip as clip  # noqa: PLC0414
from tourniquet.slack.mrkdwn import escape as escape  # noqa: PLC0414
from tourniquet.slack.mrkdwn import outcome_text as mrkdwn_outcome
from tourniquet.state import Diagnostic

APPROVE_ACTION_ID = "approve"
ACKNOWLEDGE_BLOCK_ID = "acknowledge"
DENY_ACTION_ID = "deny"
ACTIONS_BLOCK_ID = "approval"
RELEASE_BLOCK_ID = "release"

_CHECK_LABELS = {
    "ec2_instance": "Instance",
    "cloudtrail": "CloudTrail",
    "cloudtrail_actor": "Actor's CloudTrail",
    "iam_principal": "Principal",
    "health": "AWS Health",
    "api_rate": "API calls",
}

# Slack limits (characters).
_HEADER_LIMIT = 150
_CONFIRM_TEXT_LIMIT = 300
_LIST_LIMIT = 5

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


@dataclass(frozen=True)
class Resolution:
    """How an approval ended; shown in place of the buttons."""

    status: ApprovalStatus
    by: str | None = None
    at: str | None = None
    # Everyone who approved, when the two-person rule asked for more than one.
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Votes:
    """How far a pending approval has come under the two-person rule."""

    required: int = 1
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionSummary:
    """One planned action as it stood when the incident was closed."""

    name: str
    mode: str
    status: str
    verified: bool


@dataclass(frozen=True)
class FinalState:
    """What the card shows once the incident is closed."""

    status: str
    resolution: Resolution | None
    actions: tuple[ActionSummary, ...] = ()


def approval_card(ctx: CardContext, approval_id: str, deadline: str, votes: Votes = Votes()) -> list[Block]:
    """The card posted when the workflow starts waiting: the incident and the Approve/Deny buttons.

    It is posted again with the count of approvals so far while the two-person rule waits for another person.
    """
    return [*_body(ctx), _buttons(ctx, approval_id), _waiting(f"⏳ Expires {when_text(deadline)}", votes)]


def _waiting(until: str, votes: Votes) -> ContextBlock:
    """Under the buttons: how long they stay, and the approvals so far when two people must approve."""
    status = [votes_text(votes), until] if votes.required > 1 else [until]
    return ContextBlock(elements=[MarkdownTextObject(text=text) for text in status])


def votes_text(votes: Votes) -> str:
    text = f"👥 *{len(votes.approvers)} of {votes.required} approvals*"
    if votes.approvers:
        return f"{text}: {people_text(votes.approvers)}; a different approver must also approve"
    return f"{text}: {votes.required} different approvers must approve"


def decided_card(ctx: CardContext, resolution: Resolution) -> list[Block]:
    """The same card with the buttons replaced by the decision, so nobody can click twice."""
    return [*_body(ctx), _resolution_block(resolution)]


def final_card(ctx: CardContext, final: FinalState) -> list[Block]:
    """The card once the incident is closed: the decision (if any) and what every planned action did."""
    blocks = _body(ctx)
    if final.resolution is not None:
        blocks.append(_resolution_block(final.resolution))
    blocks.append(_section(outcome_text(final)))
    return blocks


def failed_card(ctx: CardContext, reason: str) -> list[Block]:
    """The card once the run failed: no buttons (nothing can be decided any more) and why, in plain words."""
    return [
        *_body(ctx),
        _section(
            clip(f"❗ *Failed*: {escape(reason)}", SECTION_LIMIT - 120)
            + f"\nNothing more runs. The timeline: `tourniquet incident show {escape(ctx.incident.id)}`"
        ),
    ]


def releasable_card(
    ctx: CardContext, final: FinalState, approval_id: str, deadline: str, votes: Votes = Votes()
) -> list[Block]:
    """The closed card with a Release button: undoing the containment goes through an approval as well."""
    return [
        *final_card(ctx, final),
        _release_button(ctx, approval_id),
        _waiting(f"🔓 Release offered until {when_text(deadline)}", votes),
    ]


def release_decided_card(ctx: CardContext, final: FinalState, resolution: Resolution) -> list[Block]:
    """The closed card once the release was decided: the button replaced by who approved it."""
    return [*final_card(ctx, final), _section(release_resolution_text(resolution))]


def released_card(ctx: CardContext, final: FinalState, released: str) -> list[Block]:
    """The closed card once the release workflow finished; ``released`` says what it restored."""
    return [*final_card(ctx, final), _section(released)]


def release_resolution_text(resolution: Resolution) -> str:
    at = f" {when_text(resolution.at)}" if resolution.at else ""
    if resolution.status is ApprovalStatus.APPROVED:
        return (
            f"🔓 *Release approved* by {people_text(resolution.approvers or (resolution.by or 'unknown',))}"
            f"{at}: restoring the recorded before-state"
        )
    if resolution.status is ApprovalStatus.EXPIRED:
        return "⌛ *Release offer expired*: release from the CLI with `tourniquet release`"
    return "🔓 *Release offered*"


def card_text(ctx: CardContext, *, alert_only: bool = False) -> str:
    """The notification fallback (and screen-reader) text for the card."""
    alert = ctx.alert
    resource = ctx.plan.target.id or (alert.primary_resource.id if alert.primary_resource else None)
    needs = ", ".join(ctx.plan.approval) or "nothing"
    where = f" on {resource}" if resource else ""
    severity = f"{SEVERITY_EMOJI[alert.severity]} {alert.severity}"
    status = f"Status: {NEEDS_A_HUMAN}." if alert_only else f"Approval needed: {needs}."
    return clip(escape(f"{severity}: {alert.title.rstrip('.')}{where}. {status}"), SECTION_LIMIT)


def resolution_text(resolution: Resolution) -> str:
    return decision_text(resolution.status.value, resolution.by, resolution.approvers, resolution.at)


def status_text(status: str) -> str:
    """An incident's status in words: one that nothing was done for needs a human, it is never closed."""
    return NEEDS_A_HUMAN if status == "alerted" else status


def outcome_text(final: FinalState) -> str:
    return mrkdwn_outcome(final.status, final.actions)


def needs_human_card(
    ctx: CardContext, final: FinalState, ack_id: str, affected: Sequence[str] = ()
) -> list[Block]:
    """An incident with no automatic action: the whole card, its status "needs a human", the resources of its
    storm (``affected``, lines of mrkdwn), and an Acknowledge button (carrying only the acknowledgement's
    opaque id) that records who took it."""
    return [*_alert_only_body(ctx, final, affected), _acknowledge_button(ctx, ack_id)]


def acknowledged_card(
    ctx: CardContext, final: FinalState, resolution: Resolution, affected: Sequence[str] = ()
) -> list[Block]:
    """The same card once someone took it: the button replaced by who and when."""
    return [*_alert_only_body(ctx, final, affected), _section(acknowledged_text(resolution))]


def _alert_only_body(ctx: CardContext, final: FinalState, affected: Sequence[str]) -> list[Block]:
    blocks = [*_body(ctx, alert_only=True), _section(outcome_text(final))]
    if affected:
        blocks.append(_section(clip("\n".join(affected), SECTION_LIMIT)))
    return blocks


def acknowledged_text(resolution: Resolution) -> str:
    at = f" {when_text(resolution.at)}" if resolution.at else ""
    if resolution.status is ApprovalStatus.APPROVED:
        return f"🙋 *Taken* by {who_text(resolution.by)}{at}"
    return "🙋 *Nobody has acknowledged it*"


def seen_text(ctx: CardContext) -> str:
    """First and last seen, and how many times: the source's count and the copies folded in."""
    alert = ctx.alert
    first = alert.first_seen or alert.time
    count = max(alert.count, 1) + ctx.incident.duplicate_count
    return f"First seen {when_text(first)} · last seen {when_text(alert.time)} · {count}× in all"  # noqa: RUF001


def _body(ctx: CardContext, *, alert_only: bool = False) -> list[Block]:
    alert, plan = ctx.alert, ctx.plan
    header = f"{SEVERITY_EMOJI[alert.severity]} {alert.severity.value} · {alert.title}"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=clip_plain(header, _HEADER_LIMIT)))]
    flags = [
        *(["🧪 *Drill*: a sample finding, handled end to end"] if alert.drill else []),
        *(["🧯 *Dry run*: actions are planned, nothing is changed"] if plan.dry_run else []),
    ]
    if flags:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=flag) for flag in flags]))
    blocks.append(SectionBlock(fields=[MarkdownTextObject(text=field) for field in _facts(ctx)]))
    if ctx.verdict is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=verdict_line(ctx.verdict))]))
    # A check that does not apply to this alert is left off the card.
    relevant = [d for d in ctx.diagnostics if d.status != "not_applicable"]
    if relevant:
        blocks.append(_section("*Diagnostics*\n" + "\n".join(_diagnostic_line(d) for d in relevant)))
    if alert_only:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=seen_text(ctx))]))
    else:
        blocks.append(_section("*Done automatically*\n" + _contained_lines(ctx)))
        blocks.append(_section("*Requires approval*\n" + _pending_lines(ctx)))
    if plan.notes:
        blocks.append(_section("*Notes*\n" + "\n".join(f"• {escape(note)}" for note in plan.notes)))
    if plan.next_steps:
        steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(plan.next_steps, 1))
        blocks.append(_section("*Next steps (runbook)*\n" + steps))
    links = [f"<{url}|{escape(text)}>" for text, url in link_pairs(ctx)]
    if links:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(links))]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_footer(ctx))]))
    blocks.append(DividerBlock())
    return blocks


def _facts(ctx: CardContext) -> list[str]:
    return [clip(f"*{name}*\n{escape(value)}", FIELD_LIMIT) for name, value in fact_pairs(ctx)]


def fact_pairs(ctx: CardContext) -> list[tuple[str, str]]:
    """The incident's facts as (name, plain text)."""
    alert, target = ctx.alert, ctx.plan.target
    resource = target.id or (alert.primary_resource.id if alert.primary_resource else None)
    resource_type = target.type or (alert.primary_resource.type if alert.primary_resource else None)
    facts = [
        ("Source", f"{alert.source} ({alert.product})"),
        ("Finding type", alert.type),
        ("Resource", f"{resource} ({resource_type})" if resource and resource_type else resource or "none"),
        ("Account", target.account or alert.account),
        ("Region", target.region or alert.region),
    ]
    if alert.actor is not None:
        facts.append(("Actor", _actor(ctx)))
    return facts


def _actor(ctx: CardContext) -> str:
    actor = ctx.alert.actor
    if actor is None:
        return ""
    who = actor.principal or actor.user_name or "unknown principal"
    parts = [f"{who} ({actor.principal_type})" if actor.principal_type else who]
    if actor.ip:
        parts.append(f"from {actor.ip}")
    if actor.access_key_id:
        parts.append(f"key {actor.access_key_id}")
    return " ".join(parts)


def _diagnostic_line(diagnostic: Diagnostic) -> str:
    label, detail = diagnostic_parts(diagnostic)
    mark = "⚠️" if diagnostic.status == "unavailable" else "•"
    return f"{mark} *{escape(label)}*: {escape(detail)}"


def diagnostic_text(diagnostic: Diagnostic) -> str:
    """One diagnostic in plain words, for the other channels."""
    label, detail = diagnostic_parts(diagnostic)
    return f"{label}: {detail}"


def diagnostic_parts(diagnostic: Diagnostic) -> tuple[str, str]:
    """A check's label and what it found, in plain text."""
    label = _CHECK_LABELS.get(diagnostic.check, diagnostic.check)
    summary = diagnostic.summary
    if diagnostic.status == "unavailable":
        why = diagnostic.error or _scalar(summary.get("reason"))
        return label, f"unavailable ({why})" if why else "unavailable"
    if diagnostic.status != "ok":
        reason = f": {_scalar(summary.get('reason'))}" if summary.get("reason") else ""
        return label, f"{diagnostic.status.replace('_', ' ')}{reason}"
    if diagnostic.check == "ec2_instance":
        detail = _instance_detail(summary)
    elif diagnostic.check == "cloudtrail":
        detail = _cloudtrail_detail(summary)
    elif summary.get("headline"):
        detail = _scalar(summary["headline"])
    else:
        detail = _joined((f"{key} {_scalar(value)}" for key, value in summary.items() if _scalar(value)))
    return label, detail or "no details"


def _instance_detail(summary: Mapping[str, Any]) -> str:
    profile = _scalar(summary.get("iam_instance_profile")).rsplit("/", 1)[-1]
    return _joined(
        [
            f"state {_scalar(summary.get('state')) or 'unknown'}",
            _scalar(summary.get("instance_type")),
            f"public IP {_scalar(summary.get('public_ip'))}" if summary.get("public_ip") else "",
            f"private IP {_scalar(summary.get('private_ip'))}" if summary.get("private_ip") else "",
            f"profile {profile}" if profile else "",
            "🛡️ protected" if summary.get("protected") is True else "",
        ]
    )


def _cloudtrail_detail(summary: Mapping[str, Any]) -> str:
    count = _scalar(summary.get("count")) or "0"
    return _joined(
        [
            f"{count} events{' (more not read)' if summary.get('truncated') is True else ''}",
            f"top: {_counts(summary.get('event_names'))}" if _counts(summary.get("event_names")) else "",
            f"errors: {_counts(summary.get('errors'))}" if _counts(summary.get("errors")) else "",
            f"source IPs: {_listed(summary.get('source_ips'))}" if _listed(summary.get("source_ips")) else "",
        ]
    )


def _counts(value: Any) -> str:
    """The first few of a name → count mapping (the diagnostics list the most common first)."""
    if not isinstance(value, Mapping):
        return ""
    return ", ".join(
        f"{_scalar(name)} ({_scalar(count)})" for name, count in list(value.items())[:_LIST_LIMIT]
    )


def _listed(value: Any) -> str:
    items = value if isinstance(value, list | tuple) else []
    return ", ".join(text for text in (_scalar(item) for item in items[:_LIST_LIMIT]) if text)


def _joined(parts: Iterable[str]) -> str:
    return " · ".join(part for part in parts if part)


def _scalar(value: Any) -> str:
    """A scalar as text; structures are not rendered (they belong in the incident record, not the card)."""
    return str(value) if isinstance(value, str | int | float | bool) else ""


def _contained_lines(ctx: CardContext) -> str:
    if not ctx.contained:
        return "Nothing was changed automatically."
    return "\n".join(
        f"{mark(item.verified)} {escape(item.action)}: {escape(item.status)}"
        f"{'' if item.verified else ', not verified'}"
        for item in ctx.contained
    )


def _pending_lines(ctx: CardContext) -> str:
    target = ctx.plan.target.id
    where = f" on `{escape(target)}`" if target else ""
    return "\n".join(f"• {escape(action)}{where}" for action in ctx.plan.approval) or "Nothing."


def link_pairs(ctx: CardContext) -> list[tuple[str, str]]:
    """The console links for the card and the other channels: (text, URL)."""
    alert, target = ctx.alert, ctx.plan.target
    region = target.region or alert.region
    if not _REGION.match(region):
        return []
    console = f"https://{region}.console.aws.amazon.com"
    links = []
    if target.type == "AwsEc2Instance" and target.id:
        url = f"{console}/ec2/home?region={region}#InstanceDetails:instanceId={quote(target.id, safe='')}"
        links.append(("Instance in the EC2 console", url))
    if alert.source == "guardduty":
        finding = quote(alert.finding_id, safe="")
        url = f"{console}/guardduty/home?region={region}#/findings?macros=current&fId={finding}"
        links.append(("GuardDuty finding", url))
    return links


def _footer(ctx: CardContext) -> str:
    parts = [
        f"Incident `{escape(ctx.incident.id)}`",
        f"duplicates: {ctx.incident.duplicate_count}",
        f"playbook `{escape(ctx.plan.playbook)}`",
    ]
    if ctx.plan.runbook:
        parts.append(f"runbook `{escape(ctx.plan.runbook)}`")
    return clip(" · ".join(parts), FIELD_LIMIT)


def _buttons(ctx: CardContext, approval_id: str) -> ActionsBlock:
    target = ctx.plan.target.id or "the target"
    actions = ", ".join(ctx.plan.approval)
    # Plain text: the confirm dialog must show the target verbatim, never render it as markup.
    text = clip_plain(
        f"Approving runs {actions} on {target} now. These steps are destructive.", _CONFIRM_TEXT_LIMIT
    )
    confirm = ConfirmObject(
        title="Run destructive steps?",
        text=PlainTextObject(text=text),
        confirm="Approve",
        deny="Cancel",
        style="danger",
    )
    return ActionsBlock(
        block_id=ACTIONS_BLOCK_ID,
        elements=[
            ButtonElement(
                text="Approve",
                action_id=APPROVE_ACTION_ID,
                value=approval_id,
                style="danger",
                confirm=confirm,
            ),
            ButtonElement(text="Deny", action_id=DENY_ACTION_ID, value=approval_id),
        ],
    )


def _release_button(ctx: CardContext, approval_id: str) -> ActionsBlock:
    target = ctx.plan.target.id or "the target"
    text = clip_plain(
        f"Releasing returns {target} to the before-state its undo records hold (network access, instance "
        "profile, scaling group and load balancers, keys and policies). Evidence snapshots are kept.",
        _CONFIRM_TEXT_LIMIT,
    )
    confirm = ConfirmObject(
        title="Release the containment?",
        text=PlainTextObject(text=text),
        confirm="Release",
        deny="Cancel",
        style="danger",
    )
    return ActionsBlock(
        block_id=RELEASE_BLOCK_ID,
        elements=[
            ButtonElement(text="Release", action_id=RELEASE_ACTION_ID, value=approval_id, confirm=confirm)
        ],
    )


def _acknowledge_button(ctx: CardContext, ack_id: str) -> ActionsBlock:
    return ActionsBlock(
        block_id=ACKNOWLEDGE_BLOCK_ID,
        elements=[
            ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE_ACTION_ID, value=ack_id, style="primary")
        ],
    )


def _resolution_block(resolution: Resolution) -> SectionBlock:
    return _section(resolution_text(resolution))


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def clip_plain(text: str, limit: int) -> str:
    """Plain text (a header, a dialog) shortened to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
