"""An incident's card as a channel :class:`~tourniquet.channels.Update`: the same facts, diagnostics, runbook
steps and links as the Slack card, in plain text for PagerDuty, Teams and e-mail."""

from __future__ import annotations

from tourniquet.approval import approvers, card
from tourniquet.approval.model import CardContext
from tourniquet.channels import Update, UpdateKind, plain
from tourniquet.settings import get_settings


def from_card(
    ctx: CardContext,
    kind: UpdateKind,
    *,
    status: str,
    summary: str,
    by: str | None = None,
    waiting: bool = False,
) -> Update:
    """``waiting``: an approval is pending, and the update says who decides it and where."""
    alert, target = ctx.alert, ctx.plan.target
    resource = target.id or (alert.primary_resource.id if alert.primary_resource else None)
    return Update(
        kind=kind,
        incident_id=ctx.incident.id,
        severity=alert.severity.value,
        title=plain(alert.title, 200),
        status=status,
        summary=plain(summary, 1000),
        playbook=ctx.plan.playbook,
        facts=tuple((name, plain(value, 300)) for name, value in card.fact_pairs(ctx)),
        diagnostics=tuple(
            plain(card.diagnostic_text(d), 300) for d in ctx.diagnostics if d.status != "not_applicable"
        ),
        next_steps=tuple(plain(step, 300) for step in ctx.plan.next_steps),
        links=tuple(card.link_pairs(ctx)),
        by=by,
        first_seen=alert.first_seen or alert.time,
        last_seen=alert.time,
        count=max(alert.count, 1) + ctx.incident.duplicate_count,
        approval=approval_note(ctx) if waiting else None,
        source=f"{alert.account}/{alert.region}",
        resource=resource,
        finding_type=plain(alert.type, 200),
    )


def approval_note(ctx: CardContext) -> str:
    """Who must approve, where: the card in Slack, and the CLI when Slack cannot be used."""
    allowed = approvers.configured(ctx.plan.approvers)
    who = f" (approvers: {', '.join(allowed)})" if allowed else ""
    actions = ", ".join(ctx.plan.approval) or "the pending steps"
    return (
        f"Approval needed for {actions}: approve or deny on the card in Slack {get_settings().slack_channel}"
        f"{who}, or from a terminal: `tourniquet approve {ctx.incident.id} --approve --reason …`"
        " (or `--deny`)."
    )
