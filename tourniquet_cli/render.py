"""Readable terminal output: the outcome, the actions, the Slack card as posted, and the timeline."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tourniquet_cli import event_text

STATUS_STYLE = {
    "contained": "bold green",
    "denied": "bold yellow",
    "expired": "bold yellow",
    "duplicate": "cyan",
    "ignored": "dim",
    "alerted": "cyan",
    "failed": "bold red",
}


def channel_facts(result: dict[str, Any]) -> list[tuple[str, str]]:
    """What PagerDuty and Teams received (the sandbox's stand-ins), and each channel that failed."""
    channels = result.get("channels") or {}
    facts = []
    if channels.get("pagerduty") or channels.get("teams"):
        pagerduty = ", ".join(channels.get("pagerduty") or ["nothing"])
        facts.append(("channels", f"PagerDuty {pagerduty} · Teams {channels.get('teams', 0)} cards"))
    facts += [("channel failed", str(error)) for error in channels.get("errors") or []]
    return facts


def alert_report(console: Console, result: dict[str, Any], card: dict[str, Any] | None) -> None:
    status = result["status"]
    approval = result.get("approval") or {}
    header = Text.assemble(
        ("Incident ", "bold"),
        (str(result.get("incident_id") or "—"), "bold"),
        "  ",
        (status.upper(), STATUS_STYLE.get(status, "bold")),
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_row("playbook", str(result.get("playbook") or "—"))
    if approval.get("decision"):
        facts.add_row(
            "approval", f"{approval['decision']}" + (f" by {approval['by']}" if approval.get("by") else "")
        )
    if result.get("reason"):
        facts.add_row("reason", str(result["reason"]))
    for where in acted_in(result.get("timeline") or []):
        facts.add_row("acted in", where)
    for name, value in [*feed_facts(result), *channel_facts(result)]:
        facts.add_row(name, value)
    execution = result.get("execution") or {}
    facts.add_row(
        "execution", f"{execution.get('status')} · {execution.get('transitions')} state transitions"
    )
    console.print(Panel(Group(header, facts), expand=False))

    if result.get("actions"):
        actions = Table(title="Actions", title_justify="left")
        for column in ("action", "mode", "status", "target", "verified"):
            actions.add_column(column)
        for action in result["actions"]:
            actions.add_row(
                action["name"],
                action["mode"],
                action["status"],
                str(action.get("target") or ""),
                "[green]✓[/green]" if action.get("verified") else "[dim]-[/dim]",
            )
        console.print(actions)

    if card:
        console.print(Panel(slack_card_text(card), title="Slack card", title_align="left", expand=False))

    if result.get("timeline"):
        timeline = Table(title="Timeline", title_justify="left")
        for column in ("at", "event", "by", "detail"):
            timeline.add_column(column)
        for event in result["timeline"]:
            detail = event_text.detail(event)
            timeline.add_row(
                str(event.get("at", ""))[11:23], event.get("kind", ""), event.get("actor", ""), detail
            )
        console.print(timeline)


def feed_facts(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The verdict, the envelopes sent to the SIEM and the statuses set in Security Hub, one line each."""
    facts = []
    verdict = result.get("verdict")
    if isinstance(verdict, dict):
        look = "analyst action required" if verdict.get("analyst_action_required") else "no analyst action"
        model = verdict.get("model") or {}
        by_model = f" · model {model.get('status')}" if model else ""
        risk = f"risk {verdict.get('risk_score')}/100 · {verdict.get('severity')}"
        facts.append(("verdict", f"{risk} · {look}{by_model}"))
    if result.get("siem"):
        sent = [f"{e['change']} ({e.get('message_id') or e.get('error')})" for e in result["siem"]]
        facts.append(("SIEM", ", ".join(sent)))
    if result.get("securityhub"):
        statuses = [f"{c['status']} ({c['operation']})" for c in result["securityhub"]]
        facts.append(("finding", "Security Hub: " + " → ".join(statuses)))
    return facts


def acted_in(timeline: list[dict[str, Any]]) -> list[str]:
    """Each account, region and role the incident's actions ran in and as, in order, once."""
    seen: list[str] = []
    for event in timeline:
        acted = event.get("acted_as")
        if isinstance(acted, dict):
            where = f"{acted.get('account')} · {acted.get('region')} as {acted.get('role')}"
            if where not in seen:
                seen.append(where)
    return seen


def slack_card_text(card: dict[str, Any]) -> Text:
    """Block Kit blocks as plain text, roughly as Slack lays them out."""
    out = Text()
    for block in card.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            out.append(block["text"]["text"] + "\n", style="bold")
        elif kind == "section":
            if block.get("text"):
                out.append(block["text"]["text"] + "\n")
            for item in block.get("fields") or []:
                out.append("  " + item["text"].replace("\n", " ") + "\n")
        elif kind == "context":
            out.append(" ".join(e.get("text", "") for e in block.get("elements", [])) + "\n", style="dim")
        elif kind == "actions":
            labels = [
                f"[ {e['text']['text']} ]" for e in block.get("elements", []) if e.get("type") == "button"
            ]
            out.append("  ".join(labels) + "\n", style="bold magenta")
        elif kind == "divider":
            out.append("─" * 40 + "\n", style="dim")
    return out
