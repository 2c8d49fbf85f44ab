"""``tourniquet plan FILE…``: what the deployment would do with each alert, offline (no AWS, no sandbox).

For each file: the EventBridge rule that would start the workflow, or the filter that drops the event,
named with its config key; then, for each alert in it, the normalized alert, its incident and correlation
keys, the playbook, and each action with its mode, the AWS calls it makes and the calls that undo it. The
plan is made as the Plan step makes it, without the diagnostics, which may still hold an action back (a
protected or vanished resource).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tourniquet_cli.options import ConfigOption, deployment_config, refuse

if TYPE_CHECKING:
    from stacks.config import TourniquetConfig
    from tourniquet.intake.common import Outcome

FilesArgument = Annotated[
    list[Path], typer.Argument(help="Alert files (JSON): events, webhook bodies, findings.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per file instead of a report.")
]


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)


def plan(files: FilesArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show what would happen to each alert, offline: the rule or the filter that drops it, the normalized
    alert, its keys, the playbook and each action with its calls and their undo."""
    from tourniquet_cli.alert_files import AlertFileError  # noqa: PLC0415

    deployment = deployment_config(config)
    failures = 0
    for index, path in enumerate(files):
        try:
            explained = explain(path, deployment)
        except AlertFileError as exc:
            failures += 1
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            continue
        if as_json:
            typer.echo(json.dumps(explained))
        else:
            _print(explained, first=index == 0)
    if failures:
        if failures == len(files):
            refuse(f"none of the {len(files)} file(s) could be read")
        raise typer.Exit(code=2)


def explain(path: Path, config: TourniquetConfig) -> dict[str, Any]:
    """What the deployment configured by ``config`` would do with the alert file at ``path``."""
    from stacks.rules import route, rules  # noqa: PLC0415
    from tourniquet.errors import InvalidAlert  # noqa: PLC0415
    from tourniquet.intake.normalize import normalize_all  # noqa: PLC0415
    from tourniquet_cli.alert_files import read_alert  # noqa: PLC0415

    event = read_alert(path)
    if {"source", "detail-type", "detail"} <= event.keys():
        found = route(event, rules(config))
        routed: dict[str, Any] = {
            "path": "eventbridge",
            "rule": found.rule,
            "reason": found.reason,
            "filter": None
            if found.dropped_by is None
            else {
                "config_key": found.dropped_by.key,
                "field": found.dropped_by.field,
                "takes": found.dropped_by.says,
            },
        }
        if found.rule is None:
            return {"file": str(path), "route": routed, "alerts": []}
    else:
        routed = {
            "path": "webhook",
            "rule": None,
            "reason": "not an EventBridge event, so no rule applies: posted to the webhook (POST "
            "/webhook/{source}), each alert in it starts the workflow",
            "filter": None,
        }
    try:
        outcomes = normalize_all(event)
    except InvalidAlert as exc:
        # The intake refuses the delivery whole (a 400 on the webhook): nothing of it starts the workflow.
        return {"file": str(path), "route": routed, "refused": str(exc), "alerts": []}
    return {"file": str(path), "route": routed, "alerts": [_alert_plan(o, config) for o in outcomes]}


def _alert_plan(outcome: Outcome, config: TourniquetConfig) -> dict[str, Any]:
    from tourniquet.incidents.keys import fold_keys  # noqa: PLC0415
    from tourniquet.intake.model import Alert  # noqa: PLC0415
    from tourniquet.playbooks.catalog import catalog, select  # noqa: PLC0415
    from tourniquet.playbooks.plan import make_plan  # noqa: PLC0415
    from tourniquet.settings import Settings  # noqa: PLC0415
    from tourniquet.state import Ignored  # noqa: PLC0415
    from tourniquet_cli.action_calls import ACTIONS, describe  # noqa: PLC0415
    from tourniquet_cli.normalize_cmd import as_json_object  # noqa: PLC0415

    if not isinstance(outcome, Alert):
        kind = "ignored" if isinstance(outcome, Ignored) else "resolved"
        return {"outcome": kind, "result": as_json_object(outcome)}
    playbooks_file = config.playbooks.resolve() if config.playbooks else None
    settings = Settings.model_validate(
        {
            "PLAYBOOKS_FILE": playbooks_file,
            "APPROVAL_TIMEOUT_SECONDS": config.approval_timeout_seconds,
            "DRY_RUN": config.dry_run,
            "PROTECTED_TAG_KEY": config.protected_tag_key,
            "PROTECTED_PRINCIPALS": config.protected_principals,
            # Offline, the hub's own account and region are unknown: any account, the alert's region.
            "SCOPE_ACCOUNTS": config.scope_accounts or ("*",),
            "SCOPE_REGIONS": config.regions or (outcome.region,),
            "EXCLUDED_ACCOUNTS": config.excluded_accounts,
        }
    )
    playbook = select(outcome, catalog(playbooks_file))
    made = make_plan(outcome, (), settings)
    steps = []
    for action in playbook.actions:
        mode = (
            "auto" if action.name in made.automatic else "approval" if action.name in made.approval else "off"
        )
        step: dict[str, Any] = {"name": action.name, "mode": mode, "playbook_mode": action.mode}
        if action.name in ACTIONS:
            calls = describe(action.name)
            step |= {"calls": list(calls.changes), "undo": list(calls.undo), "kept": calls.kept}
        steps.append(step)
    folded = fold_keys(outcome, playbook)
    # The keys the Deduplicate step folds by: one problem per dedup key, one incident per correlation key.
    keys = {"dedup_key": folded.dedup, "correlation_key": folded.correlation}
    return {
        "outcome": "alert",
        "alert": as_json_object(outcome),
        "keys": keys,
        "playbook": {"id": playbook.id, "title": playbook.title, "runbook": playbook.runbook},
        "actions": steps,
        "notes": list(made.notes),
    }


def _print(explained: dict[str, Any], *, first: bool) -> None:
    from rich.console import Console  # noqa: PLC0415

    console = Console(highlight=False)

    def say(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False)

    if not first:
        console.print()
    route = explained["route"]
    console.rule(explained["file"], style="bold")
    if route["rule"]:
        say(f"rule: {route['reason']}", "green")
    elif route["path"] == "eventbridge":
        say(f"dropped: {route['reason']}", "yellow")
    else:
        say(f"webhook: {route['reason']}", "cyan")
    if "refused" in explained:
        say(f"refused by the intake, nothing starts: {explained['refused']}", "red")
    for number, item in enumerate(explained["alerts"], 1):
        if item["outcome"] != "alert":
            say(f"alert {number}: {item['outcome']}: {json.dumps(item['result'])}", "yellow")
            continue
        alert = item["alert"]
        say(f"alert {number}: {alert['title']}", "bold")
        say(
            f"  {alert['source']} ({alert['product']}) {alert['type']}, severity {alert['severity']}, "
            f"in {alert['account']} / {alert['region']}"
        )
        for resource in alert.get("resources") or []:
            say(f"  resource {resource.get('type')} {resource.get('id')}")
        keys = item["keys"]
        say(f"  dedup key: {keys['dedup_key']}")
        correlation = keys["correlation_key"] or "none: this alert opens an incident of its own"
        say(f"  correlation key: {correlation}")
        playbook = item["playbook"]
        say(f"  playbook {playbook['id']}: {playbook['title']} ({playbook['runbook']})")
        for step in item["actions"]:
            if "calls" not in step:
                say(f"    {step['mode']:>8}  {step['name']}: not implemented, by hand per the runbook")
                continue
            undo = f"kept ({step['kept']})" if step["kept"] else ", ".join(step["undo"]) or "nothing to undo"
            say(f"    {step['mode']:>8}  {step['name']}: {', '.join(step['calls']) or 'no calls'}")
            say(f"    {'':>8}  undo: {undo}")
        for note in item["notes"]:
            say(f"  note: {note}")
