"""Runs a containment step: the plan's automatic (or approved) actions on its target, in the plan's order.

Every action records its before-state (the undo record) before anything changes, acts, reads again what it
changed and records the proof: one audit event per action, with its steps. The actions run in rounds, so
that what they read once and write together costs one round trip each:

* A round reads the target once (the first round of the automatic step takes the ec2_instance diagnostic's
  read of moments ago) and each action's before-state; writes the round's undo records in one transaction,
  together with the events still to write (and, in the automatic step, the plan and the diagnostics it was
  made from); makes the changes in order; reads the target again; proves each change; and leaves the events
  for the next round's write, or the last one.
* A round ends after an action that lifts a protection (the actions after it must see it gone) or cuts the
  target off (``cuts_off``: isolation). Isolation is proved and recorded the moment it is made; the labels
  and proofs of the round's earlier changes (evidence preserved and requested, the fleet left) follow it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from tourniquet import aws, errors, store
from tourniquet.containment import ec2, iam, registry
from tourniquet.containment.actions import Action, Applied, Context
from tourniquet.containment.ec2 import Instance
from tourniquet.containment.iam import Principal
from tourniquet.containment.model import Call, ContainRequest, ContainTarget
from tourniquet.logs import logger
from tourniquet.settings import Settings
from tourniquet.state import ActionResult, ActionStatus, Scope

Subject = Instance | Principal


def run(request: ContainRequest, settings: Settings) -> list[ActionResult]:
    """Run the step's actions in the target's own account and region, through the member role there."""
    journal = _Journal()
    if request.mode == "auto":
        journal.add(_planned(request))
    try:
        if not request.actions:
            return []
        actions = [registry.get(name) for name in request.actions]
        step = _Step(request, request.target(), settings, journal)
        return step.run(actions)
    finally:
        journal.write()


def loader(target: ContainTarget) -> Callable[[], Subject]:
    """Reads the actions' subject afresh: the instance, or the IAM principal behind an access key."""
    if target.type == "AwsEc2Instance":
        return lambda: ec2.describe_instance(target.id)
    return lambda: iam.principal(target)


def rounds(actions: Sequence[Action[Any]]) -> list[list[Action[Any]]]:
    """The actions in rounds, in order: a round ends after one that lifts a protection or cuts off."""
    found: list[list[Action[Any]]] = [[]]
    for action in actions:
        found[-1].append(action)
        if action.lifts_protection or action.cuts_off:
            found.append([])
    return [round_ for round_ in found if round_]


class _Journal:
    """Timeline events waiting to be written: each write takes them along with the next undo records."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []

    def add(self, item: dict[str, Any]) -> None:
        self._pending.append(item)

    def write(self, undo: Sequence[dict[str, Any]] = ()) -> set[str]:
        """Write ``undo`` records (a retried step keeps its first ones) and the waiting events; the sort keys
        of the undo records that were there already."""
        items = [*undo, *self._pending]
        if not items:
            return set()
        existing = store.put_new(items)
        self._pending.clear()
        return existing


class _Step:
    def __init__(
        self, request: ContainRequest, target: ContainTarget, settings: Settings, journal: _Journal
    ) -> None:
        self.request = request
        self.target = target
        self.settings = settings
        self.journal = journal
        self.load = loader(target)
        self.results: dict[str, ActionResult] = {}

    def run(self, actions: list[Action[Any]]) -> list[ActionResult]:
        try:
            self._check(actions)
            subject = self._known_subject()
            if self.request.dry_run or self.settings.dry_run:
                self._plan_only(actions, subject)
            else:
                for round_ in rounds(actions):
                    subject = self._round(round_, subject)
        except errors.OutOfScope as exc:
            # The plan raises such a target for a person; this guard holds whoever asks.
            for action in actions:
                self._record(action, "refused", detail={"reason": str(exc)})
            raise
        except ClientError as exc:
            code = aws.error_code(exc)
            what = f"{', '.join(a.name for a in actions)} on {self.target.id}"
            if aws.is_throttling(exc):
                raise errors.Throttled(f"{what} was throttled ({code})") from exc
            raise errors.ContainmentFailed(f"{what} failed: {code}") from exc
        return [self.results[action.name] for action in actions if action.name in self.results]

    # --- guards --------------------------------------------------------------------------------------------

    def _check(self, actions: list[Action[Any]]) -> None:
        """Refuse the whole step before anything is read or changed when one of its actions may not run."""
        for action in actions:
            if action.destructive and self.request.mode != "approval":
                reason = f"{action.name} is destructive and runs only after an approval"
                self._record(action, "refused", detail={"reason": reason})
                raise errors.ContainmentFailed(reason)
            if action.target_type != self.target.type:
                raise errors.ContainmentFailed(
                    f"{action.name} acts on {action.target_type}, not on {self.target.type}"
                )
        if self.target.type == "AwsIamAccessKey" and iam.is_root(self.target):
            reason = (
                "the access key belongs to the account root: Tourniquet never changes root, it alerts only"
            )
            for action in actions:
                self._record(action, "refused", detail={"reason": reason})
            raise errors.RootRefused(reason)

    def _protected(self, action: Action[Any], subject: Subject) -> bool:
        """The plan makes protected resources alert-only and the role is denied them; this is the third
        guard: the action is skipped and recorded so."""
        if self.settings.protected_tag_key not in subject.tags or action.lifts_protection:
            return False
        reason = f"the target carries {self.settings.protected_tag_key}: Tourniquet never changes it"
        self._record(action, "skipped_protected", detail={"reason": reason})
        return True

    # --- rounds --------------------------------------------------------------------------------------------

    def _known_subject(self) -> Subject | None:
        """The instance as the ec2_instance diagnostic read it moments ago, if this step was handed it."""
        for diagnostic in self.request.diagnostics:
            summary = diagnostic.summary
            if diagnostic.check == "ec2_instance" and diagnostic.status == "ok":
                instance = ec2.instance_of_summary(summary)
                if instance is not None and instance.instance_id == self.target.id:
                    return instance
        return None

    def _round(self, actions: list[Action[Any]], subject: Subject | None) -> Subject:
        """Run one round; returns the subject as read after its changes (the next round's before)."""
        if subject is None:
            with self._acting(None):
                subject = self.load()
        live = [action for action in actions if not self._protected(action, subject)]
        if not live:
            return subject
        before = self._read(live, subject, first_attempt=True)
        # The undo records are written before anything changes; a retried step keeps the first ones, and
        # reads again what its earlier attempt may have done.
        undo = {
            action.name: store.undo_item(
                self.request.incident_id, action.name, self.target.id, before[action.name], scope=self.scope
            )
            for action in live
        }
        existing = self.journal.write(list(undo.values()))
        again = [action for action in live if undo[action.name]["sk"] in existing]
        before |= self._read(again, subject, first_attempt=False)
        calls = {action.name: action.plan(self._context(action), before[action.name]) for action in live}

        applied: dict[str, Applied] = {}
        failure: Exception | None = None
        for action in live:
            try:
                with self._acting(action):
                    todo = calls[action.name]
                    applied[action.name] = (
                        action.apply(self._context(action), before[action.name], todo) if todo else Applied()
                    )
            except (ClientError, errors.TourniquetError) as exc:
                # What was changed so far is still proved and recorded; then the step fails.
                failure = exc
                break

        with self._acting(None):
            after = self.load()
        done = [action for action in live if action.name in applied]
        problems: list[str] = []
        for action in (a for a in done if a.cuts_off):
            problems += self._prove(
                action, after, before[action.name], calls[action.name], applied[action.name]
            )
            # Isolated: recorded now, before the labels and proofs of the changes made on the way.
            self.journal.write()
        rest = [action for action in done if not action.cuts_off]
        for action in rest:
            with self._acting(action):
                action.finish(self._context(action), applied[action.name])
        for action in rest:
            problems += self._prove(
                action, after, before[action.name], calls[action.name], applied[action.name]
            )
        if failure is not None:
            raise failure
        if problems:
            raise errors.VerificationFailed("; ".join(problems))
        return after

    def _read(self, actions: list[Action[Any]], subject: Subject, *, first_attempt: bool) -> dict[str, Any]:
        found = {}
        for action in actions:
            with self._acting(action):
                found[action.name] = action.read(self._context(action, first_attempt=first_attempt), subject)
        return found

    def _prove(
        self,
        action: Action[Any],
        subject: Subject,
        before: dict[str, Any],
        calls: list[Call],
        applied: Applied,
    ) -> list[str]:
        """Read the action's state again, check it and record the proof; what is wrong, if anything."""
        with self._acting(action):
            after = action.reread(self._context(action), subject, before, applied)
            problems = action.verify(self._context(action), after)
            status: ActionStatus = "done" if calls else "unchanged"
            detail = {**action.detail(after), **applied.detail}
            if problems:
                detail["problems"] = problems
            self._record(
                action,
                status,
                verified=not problems,
                before=before,
                after=after,
                request_ids=applied.request_ids,
                detail=detail,
            )
        if problems:
            return [f"{action.name} on {self.target.id} did not take effect: " + "; ".join(problems)]
        logger.info("containment action verified", action=action.name, target=self.target.id, status=status)
        return []

    def _plan_only(self, actions: list[Action[Any]], subject: Subject | None) -> None:
        """A dry run: each action's calls, planned from what is there now, recorded; nothing changed."""
        if subject is None:
            with self._acting(None):
                subject = self.load()
        for action in actions:
            if self._protected(action, subject):
                continue
            with self._acting(action):
                before = action.read(self._context(action), subject)
                calls = action.plan(self._context(action), before)
                self._record(
                    action, "planned", before=before, detail={"calls": [dict(call) for call in calls]}
                )

    # --- where and how -------------------------------------------------------------------------------------

    @contextmanager
    def _acting(self, action: Action[Any] | None) -> Iterator[None]:
        # Lifting a protection is allowed only in a session named for it (the member role's policy).
        with aws.acting_in(
            self.target.scope,
            incident_id=self.request.incident_id,
            purpose="contain",
            action=action.name if action is not None and action.lifts_protection else None,
        ):
            yield

    @property
    def scope(self) -> Scope:
        """The target's account and region (acting_in refuses any other before anything is read)."""
        scope = self.target.scope
        if scope is None:
            raise errors.OutOfScope("the target names no AWS account and region to act in")
        return scope

    def _context(self, action: Action[Any], *, first_attempt: bool = False) -> Context:
        return Context(
            incident_id=self.request.incident_id,
            target_id=self.target.id,
            scope=self.scope,
            record_step=lambda step: self._record_step(action, step),
            protected_tag_key=self.settings.protected_tag_key,
            first_attempt=first_attempt,
        )

    def _record(
        self,
        action: Action[Any],
        status: ActionStatus,
        *,
        verified: bool = False,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        request_ids: list[str] | None = None,
        detail: dict[str, Any],
    ) -> None:
        """The action's audit event (written with the next write of the step), and its result."""
        self.journal.add(
            store.event_item(
                self.request.incident_id,
                "action",
                action=action.name,
                target=self.target.as_state(),
                mode=self.request.mode,
                status=status,
                verified=verified,
                before=before,
                after=after,
                request_id=request_ids,
                detail=detail,
                acted_as=aws.acted_as(),
            )
        )
        self.results[action.name] = ActionResult(
            action=action.name, target=self.target, status=status, verified=verified, detail=detail
        )
        logger.info("containment action recorded", action=action.name, target=self.target.id, status=status)

    def _record_step(self, action: Action[Any], step: dict[str, Any]) -> None:
        self.journal.add(
            store.event_item(
                self.request.incident_id,
                "action_step",
                action=action.name,
                target=self.target.as_state(),
                mode=self.request.mode,
                **step,
            )
        )


def _planned(request: ContainRequest) -> dict[str, Any]:
    """The plan the automatic step carries out, with the diagnostics it was made from."""
    plan = request.plan
    return store.event_item(
        request.incident_id,
        "planned",
        playbook=plan.playbook,
        target=plan.target.as_state() or None,
        automatic=list(plan.automatic),
        approval=list(plan.approval),
        dry_run=plan.dry_run,
        notes=list(plan.notes) or None,
        diagnostics=[diagnostic.as_state() for diagnostic in request.diagnostics],
    )
