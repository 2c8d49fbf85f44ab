"""Storms: the alerts of one group (or one correlation key) open one incident that lists every resource; the
thread hears of them in summaries, not one post each."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from tests.handlers.approvals import CONTEXT, SlackEnv
from tests.helpers import LAMBDA_CONTEXT, TABLE, load_event
from tourniquet import store
from tourniquet.incidents import dedup, handler, outcome, storm
from tourniquet.incidents.keys import FoldKeys, fold_keys
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize_all
from tourniquet.notify import handler as notify_handler
from tourniquet.playbooks.catalog import select
from tourniquet.slack import Slack
from tourniquet.state import IncidentRef, Plan, StepError, Target
from tourniquet_cli import incident_cmd

GROUP = '{}:{alertname="InstanceCpuHigh"}'
ASL = Path(__file__).resolve().parents[2] / "statemachines" / "incident_response.asl.json"


def group(count: int, *, first: int = 0, group_key: str = GROUP) -> dict[str, Any]:
    """An Alertmanager delivery: one alert name on ``count`` instances, numbered from ``first``."""
    body = load_event("alertmanager_v4_firing")
    template = body["alerts"][0]
    body["groupKey"] = group_key
    body["alerts"] = []
    for n in range(first, first + count):
        alert = copy.deepcopy(template)
        alert["labels"] = {
            "alertname": "InstanceCpuHigh",
            "instance_id": f"i-0cafe{n:012x}",
            "account_id": "123456789012",
            "region": "eu-west-1",
        }
        alert["fingerprint"] = f"{n:016x}"
        body["alerts"].append(alert)
    return body


def alerts_of(body: dict[str, Any]) -> list[Alert]:
    found = normalize_all(body)
    assert all(isinstance(alert, Alert) for alert in found)
    return [alert for alert in found if isinstance(alert, Alert)]


def fold(alert: Alert, execution_id: str, keys: FoldKeys | None = None) -> IncidentRef:
    return dedup.fold(
        alert,
        window_seconds=3600,
        execution_id=execution_id,
        keys=keys or fold_keys(alert, select(alert)),
    )


def deduplicate(alert: Alert, execution_id: str) -> IncidentRef:
    """The Deduplicate step, as the workflow calls it (the playbook names the keys)."""
    answer = handler.deduplicate(
        {"alert": alert.model_dump(mode="json"), "execution_id": execution_id}, CONTEXT
    )
    return IncidentRef.model_validate(answer)


def test_a_group_of_alerts_opens_one_incident_that_lists_every_resource(aws):
    # The 100-alert group runs through the whole workflow in tests/workflow/test_storm.py.
    answers = [deduplicate(alert, f"exec-{n}") for n, alert in enumerate(alerts_of(group(20)))]

    assert len({answer.id for answer in answers}) == 1
    assert Counter((answer.duplicate, answer.folded) for answer in answers) == {
        (False, False): 1,
        (False, True): 19,
    }
    incident_id = answers[0].id
    listed = storm.resources(incident_id)
    assert {resource.id for resource in listed} == {f"i-0cafe{n:012x}" for n in range(20)}
    assert all(resource.alerts == 1 for resource in listed)
    assert Counter(event["kind"] for event in store.timeline(incident_id)) == {"opened": 1, "folded": 19}


def test_a_copy_of_a_storms_alert_counts_on_its_resource_and_folds_into_the_storm(aws):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-1")
    fold(second, "exec-2")

    again = fold(alerts_of(group(1))[0], "exec-3")

    assert (again.id, again.duplicate, again.folded, again.contain) == (opened.id, True, True, False)
    counts = {resource.id: resource.alerts for resource in storm.resources(opened.id)}
    assert counts == {"i-0cafe000000000000": 2, "i-0cafe000000000001": 1}


def test_alerts_of_different_groups_open_incidents_of_their_own(aws):
    [one] = alerts_of(group(1, group_key="a"))
    [other] = alerts_of(group(1, first=1, group_key="b"))

    assert fold(one, "exec-1").id != fold(other, "exec-2").id


def test_one_group_answered_by_different_playbooks_makes_one_incident_per_playbook(aws):
    alerts = alerts_of(load_event("alertmanager_v4_firing"))

    answers = [fold(alert, f"exec-{n}") for n, alert in enumerate(alerts)]

    assert len({select(alert).id for alert in alerts}) == 3
    assert len({answer.id for answer in answers}) == 3


def test_a_folded_alert_is_sent_to_containment_only_when_its_playbook_contains():
    containing = Alert.model_validate(
        {**alerts_of(group(1))[0].model_dump(), "product": "GuardDuty", "type": "Backdoor:EC2/C&CActivity.B"}
    )

    assert select(containing).id == "guardduty-ec2-instance"
    assert fold_keys(containing, select(containing)).contain is True
    assert fold_keys(alerts_of(group(1))[0], select(alerts_of(group(1))[0])).contain is False


def test_a_storm_that_lapsed_opens_a_new_incident(aws, monkeypatch):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-1")
    later = dedup.time.time() + 7200
    monkeypatch.setattr(dedup.time, "time", lambda: later)

    assert fold(second, "exec-2").id != opened.id


def test_a_retried_fold_into_a_storm_answers_the_same_and_counts_once(aws):
    first, second = alerts_of(group(2))
    fold(first, "exec-1")
    joined = fold(second, "exec-2")

    retried = fold(second, "exec-2")

    assert retried == joined
    assert [event["kind"] for event in store.timeline(joined.id)].count("folded") == 1
    assert {resource.id: resource.alerts for resource in storm.resources(joined.id)}[
        "i-0cafe000000000001"
    ] == 1


def test_a_fold_into_a_storm_that_failed_leaves_nothing_that_swallows_the_alert(aws):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-1")
    client = store.table().meta.client

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "Write")

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", refuse)
    try:
        with pytest.raises(ClientError):
            fold(second, "exec-2")
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", refuse)

    retried = fold(second, "exec-2")
    assert (retried.id, retried.folded, retried.duplicate) == (opened.id, True, False)
    assert len(storm.resources(opened.id)) == 2


def test_a_storm_claim_without_its_incident_opens_a_new_incident_in_its_place(aws):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-1")
    store.table().delete_item(Key={"pk": store.incident_pk(opened.id), "sk": store.INCIDENT_SK})

    replaced = fold(second, "exec-2")
    joined = fold(alerts_of(group(3))[2], "exec-3")

    assert (replaced.folded, replaced.id != opened.id) == (False, True)
    assert (joined.folded, joined.id) == (True, replaced.id)


def test_a_failed_run_of_a_folded_alert_leaves_the_incident_to_its_own_run(aws):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-1")
    joined = fold(second, "exec-2")

    outcome.record_failure(StepError(Error="ContainmentFailed"), joined, "exec-2")

    assert store.get_incident(opened.id)["status"] == "open"
    assert [e["kind"] for e in store.timeline(opened.id)][-1] == "failure"


def test_the_outcome_summarizes_only_the_actions_on_its_own_target():
    plan = Plan(playbook="p", target=Target(type="AwsEc2Instance", id="i-1"), automatic=("tag_instance",))
    timeline = [
        {"kind": "action", "action": "tag_instance", "target": {"id": "i-1"}, "status": "done"},
        {"kind": "action", "action": "tag_instance", "target": {"id": "i-2"}, "status": "refused"},
    ]

    [summary] = outcome.summarize_actions(plan, timeline)

    assert (summary.status, summary.target) == ("done", "i-1")


# --- the thread's summaries ---------------------------------------------------------------------------


def notify_folded(incident: IncidentRef, execution_id: str) -> dict[str, Any]:
    event = {"kind": "folded", "incident": incident.model_dump(), "execution_id": execution_id}
    return notify_handler.notify(event, LAMBDA_CONTEXT)


def with_card(slack: SlackEnv, incident_id: str) -> str:
    """The incident's card, as posted; returns its ts."""
    posted = Slack.connect().post(slack.channel, "card")
    store.update_incident(incident_id, slack_channel=posted.channel, slack_ts=posted.ts)
    return posted.ts


def replies(slack: SlackEnv, ts: str) -> list[str]:
    return [m.text for m in slack.fake.messages(slack.channel) if m.thread_ts == ts]


def test_a_settled_storm_is_told_in_one_thread_reply_by_its_last_alert(slack):
    answers = [fold(alert, f"exec-{n}") for n, alert in enumerate(alerts_of(group(12)))]
    ts = with_card(slack, answers[0].id)

    results = [notify_folded(answer, f"exec-{n}") for n, answer in enumerate(answers) if answer.folded]
    retried = notify_folded(answers[-1], "exec-11")

    assert all(result == {"posted": True} for result in [*results, retried])
    [reply] = replies(slack, ts)
    assert "11 resources joined" in reply
    assert "12 resources, 12 alerts in all" in reply
    assert f"…and 1 more: `tourniquet incident show {answers[0].id}`" in reply


def test_a_storm_that_never_pauses_is_summarized_once_an_interval(slack, monkeypatch):
    first, *rest = alerts_of(group(4))
    opened = fold(first, "exec-0")
    ts = with_card(slack, opened.id)
    joined = fold(rest[0], "exec-1")
    fold(rest[1], "exec-2")

    assert notify_folded(joined, "exec-1") == {"posted": True}
    assert replies(slack, ts) == []
    later = store.now() + timedelta(seconds=storm.SUMMARY_INTERVAL_SECONDS + 1)
    monkeypatch.setattr(store, "now", lambda: later)
    notify_folded(joined, "exec-1")

    assert len(replies(slack, ts)) == 1


def test_a_storm_before_its_card_posts_nothing_and_claims_nothing(slack):
    first, second = alerts_of(group(2))
    fold(first, "exec-0")
    joined = fold(second, "exec-1")

    assert notify_folded(joined, "exec-1") == {"posted": False}
    ts = with_card(slack, joined.id)
    assert notify_folded(joined, "exec-1") == {"posted": True}
    assert len(replies(slack, ts)) == 1


def test_storm_text_is_data_never_markup(slack):
    alert = alerts_of(group(1))[0]
    hostile = Alert.model_validate(
        {
            **alert.model_dump(),
            "resources": [{"type": "Other", "id": "<!channel> `x`"}],
            "dedup_key": "hostile",
        }
    )
    opened = fold(alerts_of(group(1, first=5))[0], "exec-0")
    ts = with_card(slack, opened.id)
    joined = fold(hostile, "exec-1")

    notify_folded(joined, "exec-1")

    [reply] = replies(slack, ts)
    assert "<!channel>" not in reply
    assert "&lt;!channel&gt; 'x'" in json.dumps(reply, ensure_ascii=False)


def test_incident_show_lists_every_resource_with_its_count(aws):
    answers = [fold(alert, f"exec-{n}") for n, alert in enumerate(alerts_of(group(12)))]
    fold(alerts_of(group(1))[0], "exec-again")
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into one command
    incident_cmd.register(app)

    text = CliRunner().invoke(app, ["incident", "show", answers[0].id, "--table", TABLE]).output
    shown = json.loads(
        CliRunner().invoke(app, ["incident", "show", answers[0].id, "--json", "--table", TABLE]).output
    )

    assert "12 resources" in text
    assert all(f"i-0cafe{n:012x}" in text for n in range(12))
    assert "i-0cafe000000000000 (AwsEc2Instance, 123456789012 eu-west-1) · 2 alerts" in text
    assert sorted(r["alerts"] for r in shown["resources"]) == [1] * 11 + [2]


def test_a_summary_names_what_was_contained_on_folded_resources(aws):
    first, second = alerts_of(group(2))
    opened = fold(first, "exec-0")
    joined = fold(second, "exec-1")
    own, other = {"id": "i-0cafe000000000000"}, {"id": "i-0cafe000000000001"}
    for target in (own, other):
        store.append_event(
            opened.id, "action", target=target, action="isolate_network", status="done", verified=True
        )

    summary = storm.claim_summary(joined, "exec-1")

    assert summary is not None
    assert summary.contained == {"i-0cafe000000000001": ("isolate_network",)}
    assert [resource.id for resource in summary.joined] == ["i-0cafe000000000001"]


def test_the_workflow_contains_a_folded_alert_only_when_its_playbook_contains_then_waits_for_the_storm():
    states = json.loads(ASL.read_text())["States"]
    routes = {choice["Next"]: choice for choice in states["IsDuplicate"]["Choices"]}

    assert list(routes) == ["Diagnose", "SettleFold", "NotifyDuplicate"]
    assert [c["Variable"] for c in routes["Diagnose"]["And"]] == ["$.incident.folded", "$.incident.contain"]
    assert states["ContainAutomatically"]["Next"] == "ContainedFolded"
    folded = {choice["Next"]: choice for choice in states["ContainedFolded"]["Choices"]}
    assert list(folded) == ["RegisterFoldedApproval", "SettleFold"]
    assert [c["Variable"] for c in folded["RegisterFoldedApproval"]["And"]] == [
        "$.incident.folded",
        "$.plan.approval_required",
    ]
    assert (states["SettleFold"]["Seconds"], states["SettleFold"]["Next"]) == (
        storm.SETTLE_SECONDS,
        "NotifyFolded",
    )
    assert states["NotifyFolded"]["Parameters"]["kind"] == "folded"


def test_the_default_keys_are_the_intake_dedup_key_and_the_group():
    [alert] = alerts_of(group(1))
    playbook = select(alert)
    ungrouped = Alert.model_validate({**alert.model_dump(), "group_key": None})

    assert fold_keys(alert, playbook).dedup == alert.dedup_key
    assert fold_keys(alert, playbook).correlation is not None
    assert fold_keys(ungrouped, playbook).correlation is None


def test_a_playbook_names_its_own_keys():
    one, other = alerts_of(group(2))
    by_name = select(one).model_copy(update={"dedup_key": ("type",), "correlation_key": ("type", "account")})
    by_group = select(one).model_copy(update={"correlation_key": ("group",)})

    assert fold_keys(one, by_name).dedup == fold_keys(other, by_name).dedup != one.dedup_key
    assert fold_keys(Alert.model_validate({**one.model_dump(), "group_key": "x"}), by_name).correlation == (
        fold_keys(other, by_name).correlation
    )
    assert fold_keys(one, by_name).correlation != fold_keys(one, by_group).correlation
