"""`tourniquet approve INCIDENT --approve|--deny --reason TEXT`: decide an approval without Slack.

The decision takes the same single-use path as a Slack click (``tourniquet.approval.decisions.decide``) and
counts under the same two-person rule. The approver is the caller's AWS identity: who may decide is whoever
IAM lets write the table and answer the workflow's task token. It counts as its IAM principal
(``decisions.approver_identity``): every session of one role is one approver, the role, since whoever assumes
a role names the session; the full session ARN stays on the timeline. A Slack user and an AWS principal
cannot be shown to be different people, so an approval that a Slack user approved can only be completed
from Slack, and the reverse.

A storm's incident (docs/dedup-and-correlation.md) may have more approvals waiting: one per folded resource.
A decision names what it decides: without ``--resource`` the command decides the incident's own approval
(the card's resource) and says which folded resources still wait; ``--resource ID`` (repeatable) decides
the named folded resources' approvals, each once, and nothing else (an id that two accounts or regions
share is refused: name it as ``ACCOUNT/REGION/ID``). Every named resource must be waiting before anything is
decided.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tourniquet_cli.incident_cmd import TableOption, _aws_errors, _aws_failure, _use_table
from tourniquet_cli.options import ProfileOption, RegionOption, refuse

if TYPE_CHECKING:
    from tourniquet.approval.records import Approval


def register(app: typer.Typer) -> None:
    app.command(name="approve")(approve)


def approve(
    incident: Annotated[str, typer.Argument(help="The incident id (inc-…).")],
    *,
    approve_: Annotated[
        bool, typer.Option("--approve", help="Approve the pending destructive steps.")
    ] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Deny them.")] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why; recorded in the incident's audit trail.")
    ] = "",
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            help="A folded resource of the storm's incident whose own approval to decide (repeatable), as"
            " ID or ACCOUNT/REGION/ID; without it, the incident's own approval is decided.",
        ),
    ] = None,
    table: TableOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Approve or deny an incident's pending approval when Slack is unavailable."""
    if approve_ == deny:
        refuse("give exactly one of --approve and --deny")
    if not reason.strip():
        refuse("--reason is required: the audit trail records why")
    _use_table(table, region, profile)
    try:
        if resource:
            for line in _decide_folded(incident, resource, approve_, reason.strip()):
                typer.echo(line)
        else:
            typer.echo(_decide(incident, approve_, reason.strip()))
    except _aws_errors() as exc:
        _aws_failure(exc)


def _decide(incident_id: str, approve_: bool, reason: str) -> str:
    from tourniquet import store  # noqa: PLC0415
    from tourniquet.approval import members  # noqa: PLC0415

    incident = store.get_incident(incident_id)
    if incident is None:
        refuse(f"no incident {incident_id} in the table")
    waiting = members.waiting(incident_id)
    folded = (
        f" {len(waiting)} folded resources wait for a decision of their own: "
        + ", ".join(f"{m.card.plan.target.id} ({', '.join(m.actions)})" for m in waiting[:10])
        + (f" and {len(waiting) - 10} more" if len(waiting) > 10 else "")
        + f"; decide them with --resource ID (`tourniquet incident show {incident_id}` lists them)."
        if waiting
        else ""
    )
    approval_id = incident.get("approval_id")
    if not isinstance(approval_id, str) or not approval_id:
        refuse(f"incident {incident_id} has no approval request of its own.{folded}")
    return _decided(incident_id, approval_id, approve_, reason) + folded


def _decide_folded(incident_id: str, resources: list[str], approve_: bool, reason: str) -> list[str]:
    """Each named folded resource's own approval, once every one of them was found waiting, and only
    waiting, under its name: an id that names resources in two accounts or regions must be given as
    ACCOUNT/REGION/ID."""
    from tourniquet import store  # noqa: PLC0415
    from tourniquet.approval import members  # noqa: PLC0415

    if store.get_incident(incident_id) is None:
        refuse(f"no incident {incident_id} in the table")
    by_name: dict[str, list[Approval]] = {}
    for member in members.waiting(incident_id):
        target = member.card.plan.target
        for name in (target.id, f"{target.account}/{target.region}/{target.id}"):
            by_name.setdefault(str(name), []).append(member)
    named = list(dict.fromkeys(resources))
    missing = [name for name in named if name not in by_name]
    if missing:
        refuse(
            f"no folded resource {', '.join(missing)} of incident {incident_id} waits for a decision"
            f" (`tourniquet incident show {incident_id}` lists them): nothing was changed"
        )
    for name in named:
        if len(by_name[name]) > 1:
            each = ", ".join(
                f"{m.card.plan.target.account}/{m.card.plan.target.region}/{m.card.plan.target.id}"
                for m in by_name[name]
            )
            refuse(
                f"{name} names {len(by_name[name])} folded resources of incident {incident_id} ({each});"
                " name one as ACCOUNT/REGION/ID: nothing was changed"
            )
    return [
        _decided(f"{incident_id} {name}", by_name[name][0].approval_id, approve_, reason) for name in named
    ]


def _decided(subject: str, approval_id: str, approve_: bool, reason: str) -> str:
    from tourniquet import aws  # noqa: PLC0415
    from tourniquet.approval import decisions  # noqa: PLC0415
    from tourniquet.approval.decisions import DecisionNotDelivered, Result  # noqa: PLC0415
    from tourniquet.approval.model import Decision  # noqa: PLC0415

    decision = Decision.APPROVE if approve_ else Decision.DENY
    caller = str(aws.client("sts").get_caller_identity()["Arn"])
    counted = decisions.approver_identity(caller)
    who = counted if counted == caller else f"{counted} (session {caller})"
    try:
        outcome = decisions.decide(approval_id, decision, caller, reason=reason)
    except DecisionNotDelivered as exc:
        refuse(f"{subject}: {exc}; the approval is still pending, try again")
    approval = outcome.approval
    if outcome.result is Result.DECIDED and approval is not None:
        verb = "Approved" if decision is Decision.APPROVE else "Denied"
        return f"{verb} {subject} as {who}: {', '.join(approval.actions) or 'nothing'}."
    if outcome.result is Result.PARTIAL and approval is not None:
        return (
            f"Approval counted as {who} ({len(approval.approvals)} of {approval.required_approvals});"
            " a different IAM principal (another role or user; not another session of this role) must"
            " also approve."
        )
    messages = {
        Result.ALREADY_APPROVED: (
            f"you have already approved this as {counted}; a different IAM principal must approve"
            " (sessions of one role count as one approver)"
        ),
        Result.MIXED_IDENTITIES: (
            f"this was already approved in Slack by {', '.join(approval.approvals)}; a Slack user and an AWS"
            " principal cannot be shown to be different people, so the second approval must also come from"
            " Slack"
            if approval
            else "this was already approved in Slack"
        ),
        Result.ALREADY_DECIDED: (
            f"already {approval.status.value} by {approval.decided_by}" if approval else "already decided"
        ),
        Result.EXPIRED: "this approval expired",
        Result.TOO_LATE: "this approval expired",
        Result.UNKNOWN: "the approval is unknown",
    }
    refuse(f"{subject}: {messages[outcome.result]}: nothing was changed")
