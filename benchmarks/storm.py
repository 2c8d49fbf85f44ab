"""Alert storms: many copies of a few problems, from three sources, arriving interleaved; every problem must
become exactly one incident and every copy a duplicate of it.

    python -m benchmarks.storm [--alerts N] [--problems N] [--workflow-problems N] [--copies N] [--wave N]
                               [--group N]

Both run in one sandbox, whose embedded AWS answers over HTTP as AWS does (each call a round trip, here on
this machine). First, the folding itself: ``--alerts`` alerts (10,000) about ``--problems`` problems (100)
through the normalize and deduplicate handlers, called in this process, next to a bare loop of one
conditional put per alert on the same table. The two take turns, a tenth of the alerts at a time, so that
drift in the machine spreads evenly over both. Prints the incidents opened, the DynamoDB calls per alert and
the throughput of each, and their ratio.

Then the whole workflow (``--workflow-problems`` times ``--copies`` alerts, ``--wave`` in flight): the
incidents opened, the duplicates counted and the throughput. The sandbox runs every handler on one thread
(AWS would run them side by side), so that figure compares changes of this code, not AWS.

Last, a storm of one Alertmanager group (``--group`` alerts, 100: one alert name on that many instances)
through the webhook, then the group's next notification (a tenth of its instances again, and a tenth more),
next to the same alerts each in a group of its own: the incidents opened, the resources
the incident lists, and the Slack posts per group (messages in the channel, and replies in threads).

And a storm of ``--approvals`` GuardDuty findings (20) whose step waits for a person: the posts and clicks it
takes (a summary offers ten at most), and how long a summary's click takes to decide its resources.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from botocore.client import BaseClient

from sandbox.core import Sandbox
from tests.helpers import load_event
from tourniquet import store
from tourniquet.approval import records
from tourniquet.approval.records import Approval
from tourniquet.incidents import storm as storm_rule
from tourniquet.incidents.handler import deduplicate
from tourniquet.intake.handler import normalize
from tourniquet.logs import logger

# Executions in flight at once: an unbounded burst would only queue invocations past their task timeouts.
WAVE = 50
ALERTS = 10_000
PROBLEMS = 100
# The folding and the bare loop take turns this many times.
TURNS = 10
FOLDED_PROBLEMS_FROM = 1_000_000
GOAL_RATIO = 0.5
REGION = "eu-west-1"
CONTEXT: Any = SimpleNamespace(
    function_name="tourniquet-storm",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tourniquet-storm",
    aws_request_id="00000000-0000-0000-0000-000000000000",
)


def problems(count: int, first: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct problems, numbered from ``first``: GuardDuty findings, Alertmanager alerts and
    CloudWatch alarms in turn."""
    found: list[dict[str, Any]] = []
    webhook = load_event("alertmanager_v4_firing")
    for n in range(first, first + count):
        kind = n % 3
        if kind == 0:
            event = load_event("guardduty_ec2_finding")
            event["detail"]["id"] = f"storm-finding-{n}"
            event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0st0rm{n:010d}"
        elif kind == 1:
            body = copy.deepcopy(webhook)
            alert = copy.deepcopy(body["alerts"][0])
            alert["labels"]["alertname"] = f"StormAlert{n}"
            alert["fingerprint"] = f"{n:016x}"
            body["alerts"] = [alert]
            # A group of its own: alerts of one group fold into one incident (see storm_group below).
            body["groupKey"] = f'{{}}:{{alertname="StormAlert{n}"}}'
            event = {
                "source": "tourniquet.webhook",
                "detail-type": "Webhook Alert",
                "detail": {"webhook": "alertmanager", "payload": body},
            }
        else:
            event = load_event("cloudwatch_alarm_state_change")
            event["detail"]["alarmName"] = f"security-storm-{n}"
            event["resources"] = [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:security-storm-{n}"]
        found.append(event)
    return found


def storm(problem_count: int, copies: int, first: int = 0) -> list[dict[str, Any]]:
    """Every problem ``copies`` times, interleaved as a storm arrives: each re-fires among the others."""
    made = problems(problem_count, first)
    return [copy.deepcopy(problem) for _ in range(copies) for problem in made]


def run_storm(sandbox: Sandbox, alerts: list[dict[str, Any]], wave: int = WAVE) -> list[dict[str, Any]]:
    """Every alert's finished execution, started in waves of concurrent executions."""
    executions: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for start in range(0, len(alerts), wave):
            arns = list(pool.map(sandbox.start_execution, alerts[start : start + wave]))
            executions += [sandbox.wait_for_execution(arn, timeout=120) for arn in arns]
    return executions


def folded(executions: list[dict[str, Any]]) -> tuple[list[str], Counter[str]]:
    """The incidents the executions opened, and how many duplicates each one folded."""
    outputs = [json.loads(execution["output"]) for execution in executions if execution.get("output")]
    opened = [o["incident"]["id"] for o in outputs if not o["incident"]["duplicate"]]
    duplicates = Counter(o["incident"]["id"] for o in outputs if o["incident"]["duplicate"])
    return opened, duplicates


# --- the folding, next to a bare loop -----------------------------------------------------------------


@dataclass
class Side:
    """One side of the comparison: its seconds and DynamoDB calls, summed over its turns."""

    seconds: float = 0.0
    calls: int = 0


@contextmanager
def _counting(counter: list[int]) -> Iterator[None]:
    """Counts the DynamoDB calls this thread makes (each a round trip) into ``counter[0]``; the sandbox's
    own threads call other services meanwhile."""
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - botocore's private hook point
    thread = threading.get_ident()

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if threading.get_ident() == thread and self.meta.service_model.service_name == "dynamodb":
            counter[0] += 1
        return original(self, operation, params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
    try:
        yield
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010


def bare_put(dynamodb: Any, table: str, key: str) -> bool:
    """The bare loop's step: one conditional put of the alert's key; whether it was new."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={"pk": {"S": f"STORM#{key}"}, "sk": {"S": "DEDUP"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def fold(event: dict[str, Any], n: int) -> dict[str, Any]:
    """One alert through the NormalizeAlert and Deduplicate handlers, as the workflow hands them on."""
    normalized = normalize({"event": event}, CONTEXT)
    execution_id = f"arn:aws:states:{REGION}:123456789012:execution:storm:{n}"
    return deduplicate({"alert": normalized["alert"], "execution_id": execution_id}, CONTEXT)


@dataclass(frozen=True)
class FoldResult:
    alerts: int
    problems: int
    opened: int
    exact: bool
    folding: Side
    bare: Side
    bare_new: int


def fold_storm(sandbox: Sandbox, alert_count: int, problem_count: int) -> FoldResult:
    """Every alert folded, and the same alerts through the bare loop on the same table, taking turns."""
    # Problems of their own: the workflow storm after it, in the same sandbox, must open its incidents.
    alerts = storm(problem_count, alert_count // problem_count, first=FOLDED_PROBLEMS_FROM)
    folding, bare = Side(), Side()
    answers: list[dict[str, Any]] = []
    bare_new = 0
    step = max(1, len(alerts) // TURNS)
    dynamodb = sandbox.client("dynamodb")
    table = store.table().name
    for start in range(0, len(alerts), step):
        turn = list(enumerate(alerts[start : start + step], start))
        counter = [0]
        with _counting(counter):
            began = time.perf_counter()
            bare_new += sum(bare_put(dynamodb, table, f"problem-{n % problem_count}") for n, _ in turn)
            bare.seconds += time.perf_counter() - began
        bare.calls += counter[0]
        counter = [0]
        with _counting(counter):
            began = time.perf_counter()
            answers += [fold(event, n) for n, event in turn]
            folding.seconds += time.perf_counter() - began
        folding.calls += counter[0]
    opened = [answer["id"] for answer in answers if not answer["duplicate"]]
    duplicates = Counter(answer["id"] for answer in answers if answer["duplicate"])
    copies = len(alerts) // problem_count
    exact = len(opened) == len(set(opened)) == problem_count and all(
        duplicates[incident] == copies - 1 for incident in opened
    )
    return FoldResult(len(alerts), problem_count, len(opened), exact, folding, bare, bare_new)


def fold_report(result: FoldResult) -> str:
    ours = result.alerts / result.folding.seconds
    bare = result.alerts / result.bare.seconds
    ratio = ours / bare
    verdict = "exactly one per problem" if result.exact else "NOT one per problem"
    goal = "met" if ratio >= GOAL_RATIO else "NOT met"
    return "\n".join(
        [
            f"folding: {result.alerts} alerts about {result.problems} problems through normalize and "
            f"deduplicate, next to a bare loop of one conditional put per alert on the same table (the "
            f"sandbox's AWS, over HTTP; {TURNS} turns each)",
            f"  incidents opened    {result.opened:8d}  ({verdict}; bare loop: {result.bare_new} new keys)",
            f"  DynamoDB calls      {result.folding.calls / result.alerts:8.2f} per alert  "
            f"(bare: {result.bare.calls / result.alerts:.2f})",
            f"  throughput          {ours:8.0f} alerts/s  (bare: {bare:.0f} alerts/s)",
            f"  ratio to the bare loop x{ratio:.2f} (goal >= x{GOAL_RATIO}: {goal})",
        ]
    )


# --- the whole workflow ----------------------------------------------------------------------------------


def workflow_storm(sandbox: Sandbox, problem_count: int, copies: int, wave: int) -> bool:
    """The storm through the deployed workflow: prints what it did; whether it was exact."""
    alerts = storm(problem_count, copies)
    began = time.perf_counter()
    executions = run_storm(sandbox, alerts, wave)
    elapsed = time.perf_counter() - began
    statuses = Counter(execution["status"] for execution in executions)
    opened, duplicates = folded(executions)
    exact = len(opened) == len(set(opened)) == problem_count and all(
        count == copies - 1 for count in duplicates.values()
    )
    print(f"alert storm: {len(alerts)} alerts about {problem_count} problems, {wave} in flight")
    print(f"  executions          {dict(statuses)}")
    verdict = "exactly one per problem" if exact else "NOT one per problem"
    print(f"  incidents opened    {len(opened):8d}  ({verdict})")
    print(f"  duplicates folded   {sum(duplicates.values()):8d}")
    print(f"  wall time           {elapsed:8.1f} s")
    print(f"  throughput          {len(alerts) / elapsed:8.1f} alerts/s")
    return exact


# --- one group ---------------------------------------------------------------------------------------------

GROUP = 100


def storm_group(count: int, *, first: int = 0, group_key: str | None = None) -> dict[str, Any]:
    """One Alertmanager delivery: the alert ``InstanceCpuHigh`` on ``count`` instances, numbered from
    ``first``, in one group (``group_key``)."""
    body = load_event("alertmanager_v4_firing")
    template = body["alerts"][0]
    body["groupKey"] = group_key or '{}:{alertname="InstanceCpuHigh"}'
    body["alerts"] = []
    for n in range(first, first + count):
        alert = copy.deepcopy(template)
        alert["labels"] = {
            "alertname": "InstanceCpuHigh",
            "instance_id": f"i-0cafe{n:012x}",
            "severity": "warning",
            "account_id": "123456789012",
            "region": REGION,
        }
        alert["annotations"] = {"summary": "CPU above 95% for 10 minutes"}
        alert["fingerprint"] = f"{n:016x}"
        body["alerts"].append(alert)
    return body


def deliver(sandbox: Sandbox, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliveries through the webhook, as Alertmanager sends them; every execution they started, finished."""
    [token] = [s["bearer_token"] for s in sandbox.deployment.secrets.values() if "bearer_token" in s]
    started: list[str] = []
    for body in bodies:
        request = urllib.request.Request(  # noqa: S310 - the sandbox's own local API
            sandbox.api.url("/webhook/alertmanager"),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310
            started += [a["execution_arn"] for a in json.loads(response.read())["accepted"]]
    return [sandbox.wait_for_execution(arn, timeout=180) for arn in started]


@dataclass(frozen=True)
class Posts:
    channel: int
    threaded: int

    @property
    def total(self) -> int:
        return self.channel + self.threaded


def posts_since(sandbox: Sandbox, before: int) -> Posts:
    """The messages posted since the ``before``-th: in the channel, and as replies in threads."""
    posted = sandbox.slack.messages()[before:]
    threaded = sum(1 for message in posted if message.thread_ts)
    return Posts(channel=len(posted) - threaded, threaded=threaded)


def group_storm(sandbox: Sandbox, size: int) -> bool:
    """One group through the webhook, then its next notification; next to the same alerts ungrouped."""
    before = len(sandbox.slack.messages())
    began = time.perf_counter()
    first = deliver(sandbox, storm_group(size))
    incidents = {json.loads(e["output"])["incident"]["id"] for e in first if e.get("output")}
    first_posts = posts_since(sandbox, before)
    middle = len(sandbox.slack.messages())
    # The next notification of the changed group: a tenth of its instances again, and as many new ones
    # (Alertmanager's max_alerts, like the webhook's cap, keeps a delivery to the first hundred or so).
    again = deliver(sandbox, storm_group(2 * (size // 10), first=size - size // 10))
    elapsed = time.perf_counter() - began
    incidents |= {json.loads(e["output"])["incident"]["id"] for e in again if e.get("output")}
    second_posts = posts_since(sandbox, middle)
    listed = len(store.resource_items(next(iter(incidents)))) if len(incidents) == 1 else 0

    before = len(sandbox.slack.messages())
    ungrouped = deliver(
        sandbox,
        *(storm_group(1, first=GROUP_ALONE_FROM + n, group_key=f"alone-{n}") for n in range(size)),
    )
    alone = posts_since(sandbox, before)
    alone_incidents = {json.loads(e["output"])["incident"]["id"] for e in ungrouped if e.get("output")}

    exact = len(incidents) == 1 and listed == size + size // 10
    print(f"one group: {size} alerts (one alert name, {size} instances) through the webhook, then its next")
    print(
        f"  notification ({size // 10} again, {size // 10} new); next to {size} alerts each in its own group"
    )
    print(f"  incidents opened    {len(incidents):8d}  (ungrouped: {len(alone_incidents)})")
    print(f"  resources listed    {listed:8d}  ({'every one' if exact else 'NOT every one'})")
    print(
        f"  posts, first group  {first_posts.total:8d}  ({first_posts.channel} in the channel, "
        f"{first_posts.threaded} in the thread; ungrouped: {alone.total}, {alone.channel} in the channel)"
    )
    print(
        f"  posts, next one     {second_posts.total:8d}  ({second_posts.channel} in the channel, "
        f"{second_posts.threaded} in the thread)"
    )
    print(
        f"  posts per alert     {first_posts.total / size:8.2f}  (ungrouped: {alone.total / size:.2f}; "
        f"x{alone.total / max(first_posts.total, 1):.0f} fewer)"
    )
    print(f"  wall time           {elapsed:8.1f} s  (both deliveries of the group)")
    return exact


# Instances of the ungrouped alerts: other problems than the group's.
GROUP_ALONE_FROM = 1_000_000


# --- a storm whose resources wait for a person -----------------------------------------------------------

APPROVALS = 20
# A playbook that folds EC2 findings of one type in one account into one incident, and stops each instance
# only after a person approves it (the bundled playbooks fold only Alertmanager and Grafana groups).
STORM_PLAYBOOKS = """
[[playbook]]
id = "storm-ec2"
title = "EC2 findings of one kind, folded by type and account"
runbook = "docs/runbooks/ec2-compromise.md"
match = { products = ["GuardDuty"], resource_types = ["AwsEc2Instance"] }
correlation_key = ["type", "account"]
actions = [
  { name = "tag_instance", mode = "auto" },
  { name = "stop_instance", mode = "approval" },
]

[[playbook]]
id = "storm-alert-only"
title = "Alert only"
runbook = "docs/runbooks/alert-only.md"
match = {}
"""


@contextmanager
def storm_playbooks(directory: Path) -> Iterator[None]:
    """The handlers (in this process) read :data:`STORM_PLAYBOOKS`; the storm's settle time is the sandbox's
    (its Wait states run at a tenth of their length)."""
    path = directory / "storm-playbooks.toml"
    path.write_text(STORM_PLAYBOOKS)
    saved, settle = os.environ.get("PLAYBOOKS_FILE"), storm_rule.SETTLE_SECONDS
    os.environ["PLAYBOOKS_FILE"] = str(path)
    storm_rule.SETTLE_SECONDS = settle // 10
    try:
        yield
    finally:
        storm_rule.SETTLE_SECONDS = settle
        if saved is None:
            os.environ.pop("PLAYBOOKS_FILE", None)
        else:
            os.environ["PLAYBOOKS_FILE"] = saved


def ec2_storm(sandbox: Sandbox, count: int, finding_type: str, first: int) -> list[dict[str, Any]]:
    """``count`` findings of one type on as many look-alike instances, numbered from ``first``."""
    alerts = []
    for n in range(first, first + count):
        event = load_event("guardduty_ec2_finding")
        event["detail"]["id"] = f"approval-storm-{n}"
        event["detail"]["type"] = finding_type
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = f"i-0a55{n:013x}"
        alerts.append(sandbox.map_alert(event)[0])
    return alerts


def summary_offering(
    sandbox: Sandbox, card: Any, count: int | None, timeout: float = 120, *, besides: Collection[str] = ()
) -> tuple[Any, Approval]:
    """The latest summary in ``card``'s thread whose buttons decide ``count`` folded resources (any number
    with None), other than the summaries ``besides`` names (by ts)."""

    def found() -> tuple[Any, Approval] | None:
        for message in reversed(sandbox.slack.messages()):
            if message.thread_ts == card.ts and message.buttons() and message.ts not in besides:
                batch = records.get(message.buttons()[0][1]["value"])
                if batch is not None and count in (None, len(batch.members)):
                    return message, batch
        return None

    return sandbox.slack.wait_for(found, timeout=timeout)


def approval_storm(sandbox: Sandbox, size: int) -> bool:
    """A storm of ``size`` findings whose steps wait for a person: the posts it makes and the clicks it
    takes, next to the same findings each an incident of its own (a card and a click each)."""
    with tempfile.TemporaryDirectory() as directory, storm_playbooks(Path(directory)):
        alerts = ec2_storm(sandbox, size, "Backdoor:EC2/C&CActivity.B!DNS", first=0)
        before = len(sandbox.slack.messages())
        began = time.perf_counter()
        opener = sandbox.start_execution(alerts[0])
        card = sandbox.wait_for_card(opener, timeout=60)
        with ThreadPoolExecutor(max_workers=8) as pool:
            joined = list(pool.map(sandbox.start_execution, alerts[1:]))
        # Each summary offers up to storm.LISTED of them: click each, as it comes.
        clicked_on: list[str] = []
        decided_in_clicks = 0
        click_seconds = 0.0
        while decided_in_clicks < size - 1:
            summary, batch = summary_offering(sandbox, card, None, timeout=300, besides=clicked_on)
            if not clicked_on:
                offered = clicked = time.perf_counter()
            started = time.perf_counter()
            sandbox.click(summary, "approve_folded")
            click_seconds = max(click_seconds, time.perf_counter() - started)
            clicked_on.append(summary.ts)
            decided_in_clicks += len(batch.members)
        finished = [sandbox.wait_for_execution(arn, timeout=300) for arn in joined]
        decided = time.perf_counter()
        # Every post of the storm until its folded resources are done (the results told in the thread too).
        posts = posts_since(sandbox, before)
        sandbox.click(card, "approve")
        sandbox.wait_for_execution(opener, timeout=60)
    stopped = {
        event["target"]["id"]
        for event in store.timeline(batch.incident_id)
        if event.get("kind") == "action"
        and event.get("action") == "stop_instance"
        and event.get("status") == "done"
    }
    exact = len(stopped) == size and all(e["status"] == "SUCCEEDED" for e in finished)
    print(f"a storm whose resources wait for a person: {size} GuardDuty findings of one type, each stopped")
    print("  only after approval, folded into one incident (next to each an incident of its own)")
    print(
        f"  posts               {posts.total:8d}  ({posts.channel} in the channel, {posts.threaded} in"
        f" the thread, {len(clicked_on)} with buttons; alone: {size} cards)"
    )
    # Clicked: the card's Approve, and each summary's.
    clicks = 1 + len(clicked_on)
    print(
        f"  clicks to decide    {clicks:8d}  (the card, and {len(clicked_on)} in the thread; alone: {size},"
        f" x{size / clicks:.1f} more)"
    )
    print(f"  stopped             {len(stopped):8d}  ({'every one' if exact else 'NOT every one'})")
    print(
        f"  one click decided   {storm_rule.LISTED:8d}  at most, in {click_seconds:.2f} s at most"
        " (the sandbox's AWS, over HTTP)"
    )
    print(
        f"  offered after       {offered - began:8.1f} s  (all stopped"
        f" {decided - clicked:.1f} s after the click)"
    )
    return exact


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=ALERTS, help=f"alerts folded (default {ALERTS})")
    parser.add_argument("--problems", type=int, default=PROBLEMS, help=f"their problems (default {PROBLEMS})")
    parser.add_argument(
        "--workflow-problems",
        type=int,
        default=10,
        help="distinct problems through the workflow (default 10)",
    )
    parser.add_argument("--copies", type=int, default=50, help="workflow alerts per problem (default 50)")
    parser.add_argument("--wave", type=int, default=WAVE, help=f"executions in flight (default {WAVE})")
    parser.add_argument("--group", type=int, default=GROUP, help=f"alerts in one group (default {GROUP})")
    parser.add_argument(
        "--approvals",
        type=int,
        default=APPROVALS,
        help=f"findings that wait for a person (default {APPROVALS})",
    )
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)

    with Sandbox() as sandbox:
        result = fold_storm(sandbox, args.alerts, args.problems)
        print(fold_report(result))
        exact = workflow_storm(sandbox, args.workflow_problems, args.copies, args.wave)
        grouped = group_storm(sandbox, args.group)
        approved = approval_storm(sandbox, args.approvals)
    if not (result.exact and exact and grouped and approved):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
