"""The whole state machine, end to end, in the sandbox: one scenario per outcome."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto.ec2.models.elastic_block_store import EBSBackend
from typer.testing import CliRunner

from sandbox.cloudtrail import TrailEvent
from sandbox.core import OUTSIDER, Sandbox
from sandbox.slack import SlackMessage, SlackUser
from tests.helpers import load_event
from tests.workflow.runner import Runner
from tourniquet import store
from tourniquet.feed.envelope import Envelope
from tourniquet.intake.model import Alert
from tourniquet.intake.normalize import normalize
from tourniquet.slack.mrkdwn import escape
from tourniquet_cli.main import app
from tourniquet_cli.scenario import approval_card

pytestmark = pytest.mark.long


def _instance(sandbox: Sandbox, instance_id: str) -> dict[str, Any]:
    reservations = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def _eni_groups(sandbox: Sandbox, instance_id: str) -> list[list[str]]:
    return [
        [g["GroupName"] for g in eni["Groups"]]
        for eni in _instance(sandbox, instance_id)["NetworkInterfaces"]
    ]


def _look_alike(result: dict[str, Any]) -> str:
    return next(v for k, v in result["mapping"].items() if k.startswith("i-"))


def _actions(result: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    return {a["name"]: (a["mode"], a["status"], a["verified"]) for a in result["actions"]}


@pytest.fixture(scope="module")
def approved(sandbox: Sandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """One finding run to the end with the approver's Approve: the event and what happened. The tests that
    read it change nothing that another of them asserts."""
    runner = Runner(sandbox)
    event = runner.event()
    return event, runner.run(event, "approve").result


def test_approve_contains_snapshots_isolates_and_stops(sandbox: Sandbox, approved):
    _, result = approved
    instance_id = _look_alike(result)

    assert result["status"] == "contained"
    assert result["playbook"] == "guardduty-ec2-instance"
    assert result["approval"] == {"decision": "approve", "by": sandbox.approver.id}
    assert _actions(result) == {
        "tag_instance": ("auto", "done", True),
        "preserve_evidence": ("auto", "done", True),
        "snapshot_volumes": ("auto", "done", True),
        # The look-alike is in no Auto Scaling group nor behind a load balancer: nothing to detach.
        "detach_from_scaling": ("auto", "unchanged", True),
        "isolate_network": ("auto", "done", True),
        "quarantine_instance_profile": ("auto", "done", True),
        "revoke_role_sessions": ("approval", "done", True),
        "stop_instance": ("approval", "done", True),
    }
    assert _instance(sandbox, instance_id)["State"]["Name"] in ("stopping", "stopped")
    assert all(
        groups == [f"tourniquet-quarantine-{_instance(sandbox, instance_id)['VpcId']}"]
        for groups in _eni_groups(sandbox, instance_id)
    )
    snapshots = sandbox.client("ec2").describe_snapshots(
        Filters=[{"Name": "tag:tourniquet:incident", "Values": [result["incident_id"]]}]
    )["Snapshots"]
    volumes = _instance(sandbox, instance_id)["BlockDeviceMappings"]
    assert len(snapshots) == len(volumes) >= 3
    assert store.get_incident(result["incident_id"])["status"] == "contained"
    assert result["execution"]["status"] == "SUCCEEDED"
    # The verdict, a named reason per point; one envelope per change; the finding NOTIFIED, then RESOLVED.
    verdict = result["verdict"]
    assert verdict["risk_score"] == sum(reason["points"] for reason in verdict["reasons"])
    assert [t["uid"] for t in verdict["tactics"]] == ["TA0040"]
    assert verdict["analyst_action_required"] is True
    assert [sent["change"] for sent in result["siem"]] == ["opened", "decided", "closed"]
    envelopes = {
        message["MessageId"]: Envelope.model_validate_json(message["Body"])
        for message in sandbox.siem_messages()
        if message["MessageAttributes"]["incident_id"]["StringValue"] == result["incident_id"]
    }
    assert {sent["message_id"] for sent in result["siem"]} == set(envelopes)
    assert {e.change: e.status for e in envelopes.values()} == {
        "opened": "open",
        "decided": "open",
        "closed": "contained",
    }
    assert [(call["operation"], call["status"]) for call in result["securityhub"]] == [
        ("BatchUpdateFindings", "NOTIFIED"),
        ("BatchUpdateFindings", "RESOLVED"),
    ]
    assert all(result["incident_id"] in call["note"] for call in result["securityhub"])


def test_the_card_shows_the_finding_and_its_buttons_carry_no_task_token(sandbox: Sandbox, approved):
    _, result = approved
    posted = approval_card(sandbox, result["incident_id"])
    assert posted is not None
    text = json.dumps(posted)
    approval = store.plain(
        store.table().get_item(
            Key={
                "pk": f"APPROVAL#{store.get_incident(result['incident_id'])['approval_id']}",
                "sk": "APPROVAL",
            }
        )["Item"]
    )

    assert "HIGH" in text
    assert "CryptoCurrency:EC2/BitcoinTool.B!DNS" in text
    assert _look_alike(result) in text
    assert "stop_instance" in text or "Stop" in text
    (scheduled,) = [
        json.loads(event["taskScheduledEventDetails"]["parameters"])
        for event in sandbox.execution_history(result["execution"]["arn"])
        if event["type"] == "TaskScheduled"
        and "task_token" in event["taskScheduledEventDetails"]["parameters"]
    ]
    token = scheduled["Payload"]["task_token"]
    assert token not in text
    # Once the decision was delivered, the stored token was erased.
    assert "task_token" not in approval
    buttons = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["action_id"] for b in buttons} == {"approve", "deny"}
    assert all(b["value"] == approval["approval_id"] for b in buttons)
    # The verdict takes one line on the card; its reasons open the card's thread.
    [line] = [
        e["text"]
        for b in posted["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if "Triage" in e["text"]
    ]
    assert f"risk *{result['verdict']['risk_score']}*/100" in line
    card = sandbox.wait_for_card(result["incident_id"])
    [reasons] = [
        m.text for m in sandbox.slack.messages(card.channel) if m.thread_ts == card.ts and "Risk" in m.text
    ]
    assert all(escape(reason["reason"]) in reasons for reason in result["verdict"]["reasons"])


def test_deny_runs_no_destructive_step_and_keeps_the_isolation(runner: Runner, sandbox: Sandbox):
    result = runner.run(runner.event(), "deny").result
    instance_id = _look_alike(result)

    assert result["status"] == "denied"
    assert result["approval"] == {"decision": "deny", "by": sandbox.approver.id}
    assert _actions(result)["stop_instance"] == ("approval", "not_run", False)
    assert _actions(result)["isolate_network"] == ("auto", "done", True)
    assert _instance(sandbox, instance_id)["State"]["Name"] == "running"
    assert all(
        len(groups) == 1 and groups[0].startswith("tourniquet-quarantine-")
        for groups in _eni_groups(sandbox, instance_id)
    )


@pytest.fixture
def quick_expiry(sandbox: Sandbox) -> Iterator[None]:
    previous = sandbox.time_scale
    sandbox.time_scale = 2.0 / 3600
    yield
    sandbox.time_scale = previous


def test_timeout_expires_escalates_and_runs_no_destructive_step(
    runner: Runner, sandbox: Sandbox, quick_expiry
):
    queue = runner.subscribe_queue()

    result = runner.run(runner.event(), "timeout").result
    instance_id = _look_alike(result)

    assert result["status"] == "expired"
    assert result["approval"]["decision"] == "expired"
    assert _actions(result)["stop_instance"][1] == "not_run"
    assert _instance(sandbox, instance_id)["State"]["Name"] == "running"
    published = [
        m.get("event") for m in runner.topic_messages(queue) if m.get("incident_id") == result["incident_id"]
    ]
    assert published == ["approval_requested", "approval_reminder", "approval_expired"]
    kinds = [e["kind"] for e in result["timeline"]]
    assert kinds.index("approval_reminder") < kinds.index("outcome")
    card_ts = store.get_incident(result["incident_id"])["slack_ts"]
    assert any("Still waiting" in m.text for m in sandbox.slack.messages() if m.thread_ts == card_ts)


def test_a_click_after_the_reminder_still_decides(runner: Runner, sandbox: Sandbox, quick_expiry):
    sandbox.time_scale = 8.0 / 3600  # reminder after 6 s, expiry after 8 s
    event, _ = sandbox.map_alert(runner.event())
    execution_arn = sandbox.start_execution(event)
    card = sandbox.wait_for_card(execution_arn, timeout=30)
    incident_id = sandbox.incident_id_for(execution_arn)
    sandbox.slack.wait_for(
        lambda: any("Still waiting" in m.text for m in sandbox.slack.messages() if m.thread_ts == card.ts),
        timeout=15,
    )

    status, _ = sandbox.click(card, "approve")

    assert status == 200
    assert sandbox.wait_for_execution(execution_arn, timeout=30)["status"] == "SUCCEEDED"
    assert store.get_incident(incident_id)["status"] == "contained"


def test_the_same_finding_twice_is_one_incident_and_a_duplicate(runner: Runner, sandbox: Sandbox, approved):
    event, first = approved
    second = runner.run(event, "approve").result

    assert first["status"] == "contained"
    assert second["status"] == "duplicate"
    assert second["incident_id"] == first["incident_id"]
    assert [e["kind"] for e in store.timeline(first["incident_id"])].count("duplicate") == 1
    assert second["execution"]["transitions"] < first["execution"]["transitions"]


def test_a_deduplicate_retried_after_its_writes_landed_still_contains(runner: Runner, sandbox: Sandbox):
    sandbox.fail_after_running("tourniquet.incidents.handler.deduplicate", "Lambda.ServiceException")

    result = runner.run(runner.event(), "approve").result

    history = sandbox.execution_history(result["execution"]["arn"])
    failed = [e for e in history if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == ["Lambda.ServiceException"]
    assert result["status"] == "contained"
    incident = store.get_incident(result["incident_id"])
    assert incident["status"] == "contained"
    assert "duplicate" not in [e["kind"] for e in store.timeline(result["incident_id"])]


def test_a_failing_containment_call_fails_the_incident_and_notifies(
    runner: Runner, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("snapshot service unavailable")

    # Seeded first: moto snapshots its sample images when an account's EC2 first answers.
    event, _ = sandbox.map_alert(runner.event())
    monkeypatch.setattr(EBSBackend, "create_snapshots", refuse)
    monkeypatch.setattr(EBSBackend, "create_snapshot", refuse)
    queue = runner.subscribe_queue()

    result = runner.run(event, "approve").result

    assert result["status"] == "failed"
    assert result["execution"]["status"] == "FAILED"
    assert store.get_incident(result["incident_id"])["status"] == "failed"
    assert [e["kind"] for e in result["timeline"] if e["kind"] not in ("siem", "securityhub")][
        -1
    ] == "failure"
    assert result["siem"][-1]["change"] == "failed"
    assert any(m.get("incident_id") == result["incident_id"] for m in runner.topic_messages(queue))
    assert sandbox.slack.find_message(result["incident_id"]) is not None


@dataclass(frozen=True)
class Pending:
    sandbox: Sandbox
    execution_arn: str
    card: SlackMessage
    incident_id: str

    def status(self) -> str:
        described = self.sandbox.client("stepfunctions").describe_execution(executionArn=self.execution_arn)
        return str(described["status"])


@pytest.fixture(scope="module")
def pending(sandbox: Sandbox) -> Iterator[Pending]:
    """An execution waiting on its approval card, for clicks that must not decide it; the approver's Deny
    ends it afterwards, and must still be able to."""
    event, _ = sandbox.map_alert(Runner(sandbox).event())
    execution_arn = sandbox.start_execution(event)
    card = sandbox.wait_for_card(execution_arn, timeout=30)
    incident_id = sandbox.incident_id_for(execution_arn)
    assert incident_id is not None
    yield Pending(sandbox, execution_arn, card, incident_id)
    assert sandbox.click(card, "deny")[0] == 200
    assert sandbox.wait_for_execution(execution_arn, timeout=30)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "attack",
    [
        {"signature": "v0=" + "0" * 64},
        {"timestamp": "1000000000"},
        {"signing_secret": "not-the-secret"},
    ],
    ids=["forged-signature", "stale-timestamp", "wrong-secret"],
)
def test_a_forged_or_stale_click_gets_401_and_changes_nothing(sandbox: Sandbox, pending: Pending, attack):
    before = (store.get_incident(pending.incident_id), store.timeline(pending.incident_id))

    status, _ = sandbox.click(pending.card, "approve", **attack)

    assert status == 401
    assert (store.get_incident(pending.incident_id), store.timeline(pending.incident_id)) == before
    assert pending.status() == "RUNNING"


def test_a_click_by_someone_not_allowed_changes_nothing(sandbox: Sandbox, pending: Pending):
    status, _ = sandbox.click(pending.card, "approve", OUTSIDER.id)

    assert status == 200
    assert [e["kind"] for e in store.timeline(pending.incident_id)][-1] == "rejected_click"
    assert pending.status() == "RUNNING"


SECOND_APPROVER = SlackUser("U0SECONDAPPROVER", "bob", "Bob Approver")


@pytest.fixture
def two_person_rule(sandbox: Sandbox) -> Iterator[None]:
    """Stop needs two different approvers: the deployed functions' configuration, changed in place."""
    lambda_client = sandbox.client("lambda")
    sandbox.slack.add_user(SECOND_APPROVER)
    handlers = (
        "tourniquet.approval.handler.request_approval",
        "tourniquet.approval.callback.slack_interaction",
    )
    saved = {}
    for handler in handlers:
        name = sandbox.deployment.function_name(handler)
        environment = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        saved[name] = dict(environment)
        environment.update(
            {
                "TWO_PERSON_ACTIONS": "stop_instance",
                "APPROVERS": f"{sandbox.approver.id},{SECOND_APPROVER.id}",
            }
        )
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": environment})
    yield
    for name, environment in saved.items():
        lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": environment})


def test_two_person_rule_runs_stop_only_after_two_different_approvers(
    runner: Runner, sandbox: Sandbox, two_person_rule
):
    event, _ = sandbox.map_alert(runner.event())
    execution_arn = sandbox.start_execution(event)
    card = sandbox.wait_for_card(execution_arn, timeout=30)
    incident_id = sandbox.incident_id_for(execution_arn)
    assert "0 of 2 approvals" in json.dumps(card.blocks, ensure_ascii=False)

    sandbox.click(card, "approve")
    sandbox.click(card, "approve")  # the same person again counts once

    assert [e["kind"] for e in store.timeline(incident_id)].count("partial_approval") == 1
    assert (
        sandbox.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    )
    assert "1 of 2 approvals" in json.dumps(
        sandbox.wait_for_card(execution_arn, timeout=5).blocks, ensure_ascii=False
    )

    status, _ = sandbox.click(card, "approve", SECOND_APPROVER.id)

    assert status == 200
    assert sandbox.wait_for_execution(execution_arn, timeout=30)["status"] == "SUCCEEDED"
    assert store.get_incident(incident_id)["status"] == "contained"
    [decision] = [e for e in store.timeline(incident_id) if e["kind"] == "decision"]
    assert sorted(decision["approvers"]) == sorted([sandbox.approver.id, SECOND_APPROVER.id])


def test_an_alarm_back_to_ok_resolves_the_incident_it_opened(runner: Runner, sandbox: Sandbox):
    # Started directly: which alarms reach the workflow is the deployed rule's alarm-name filter.
    firing = runner.run(runner.event("cloudwatch_alarm_state_change", fresh=False), via_rules=False).result
    recovered = runner.run(runner.event("cloudwatch_alarm_ok", fresh=False), via_rules=False).result

    assert firing["status"] == "alerted"
    assert recovered["status"] == "resolved"
    assert recovered["incident_id"] == firing["incident_id"]
    assert store.get_incident(firing["incident_id"])["status"] == "resolved"


def test_an_archived_finding_is_ignored_with_its_reason(runner: Runner):
    event = runner.event()
    event["detail"]["service"]["archived"] = True

    result = runner.run(event).result

    assert result["status"] == "ignored"
    assert "archived" in result["reason"]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_alertmanager_webhook_opens_one_incident_per_alert(sandbox: Sandbox):
    [token] = [s["bearer_token"] for s in sandbox.deployment.secrets.values() if "bearer_token" in s]
    body = json.dumps(load_event("alertmanager_v4_firing")).encode()
    url = sandbox.api.url("/webhook/alertmanager")

    denied, _ = _post(url, body, {"Content-Type": "application/json"})
    status, answer = _post(
        url, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    )

    assert denied == 401
    assert status == 202
    executions = [sandbox.wait_for_execution(a["execution_arn"], timeout=60) for a in answer["accepted"]]
    assert [e["status"] for e in executions] == ["SUCCEEDED"] * len(
        load_event("alertmanager_v4_firing")["alerts"]
    )
    incidents = {sandbox.incident_id_for(e["executionArn"]) for e in executions}
    assert None not in incidents
    assert len(incidents) == len(executions)


def test_tourniquet_approve_decides_without_slack_as_the_callers_aws_identity(
    runner: Runner, sandbox: Sandbox
):
    event, _ = sandbox.map_alert(runner.event())
    execution_arn = sandbox.start_execution(event)
    sandbox.wait_for_card(execution_arn, timeout=30)
    incident_id = sandbox.incident_id_for(execution_arn)

    result = CliRunner().invoke(
        app,
        [
            "approve",
            incident_id,
            "--deny",
            "--reason",
            "Slack is down",
            "--table",
            sandbox.deployment.table_name(),
        ],
    )

    assert result.exit_code == 0, result.output
    assert sandbox.wait_for_execution(execution_arn, timeout=30)["status"] == "SUCCEEDED"
    assert store.get_incident(incident_id)["status"] == "denied"
    [decision] = [e for e in store.timeline(incident_id) if e["kind"] == "decision"]
    assert decision["actor"].startswith("arn:aws:")
    assert decision["reason"] == "Slack is down"


def test_a_protected_instance_is_raised_but_never_touched(runner: Runner, sandbox: Sandbox):
    event = runner.event()
    tags = event["detail"]["resource"]["instanceDetails"]["tags"]
    tags.append({"key": "tourniquet:protected", "value": "true"})

    result = runner.run(event).result
    instance = _instance(sandbox, _look_alike(result))

    assert result["status"] == "alerted"
    assert result["actions"] == []
    assert instance["State"]["Name"] == "running"
    assert not any(t["Key"] == "tourniquet:incident" for t in instance.get("Tags", []))
    assert all(not g[0].startswith("tourniquet-") for g in _eni_groups(sandbox, _look_alike(result)))


def test_a_protection_added_just_before_the_finding_waits_for_a_person_then_is_lifted(
    runner: Runner, sandbox: Sandbox
):
    event = runner.event()
    event["detail"]["resource"]["instanceDetails"]["tags"].append(
        {"key": "tourniquet:protected", "value": "t"}
    )
    mapped, mapping = sandbox.map_alert(event)
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    alert = normalize(mapped)
    assert isinstance(alert, Alert)
    found = datetime.fromisoformat(alert.first_seen or alert.time)
    tagging = {
        "resourcesSet": {"items": [{"resourceId": instance_id}]},
        "tagSet": {"items": [{"key": "tourniquet:protected"}]},
    }
    sandbox.trail.add(
        [
            TrailEvent(
                event_name="CreateTags",
                event_source="ec2.amazonaws.com",
                event_time=found - timedelta(hours=1),
                username="mallory",
                read_only=False,
                resources=(("AWS::EC2::Instance", instance_id),),
                record={"requestParameters": tagging},
            )
        ]
    )

    result = runner.run(mapped, "approve").result

    card = approval_card(sandbox, result["incident_id"])
    assert card is not None
    assert "suspicious" in json.dumps(card)
    assert result["status"] == "contained"
    assert _actions(result)["lift_protection"] == ("approval", "done", True)
    assert _actions(result)["isolate_network"] == ("approval", "done", True)
    tags = {t["Key"] for t in _instance(sandbox, instance_id).get("Tags", [])}
    assert "tourniquet:protected" not in tags


@pytest.fixture
def dry_run(sandbox: Sandbox) -> Iterator[None]:
    lambda_client = sandbox.client("lambda")
    name = sandbox.deployment.function_name("tourniquet.playbooks.handler.plan")
    environment = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**environment, "DRY_RUN": "true"}}
    )
    yield
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": environment})


def test_dry_run_plans_every_call_and_changes_nothing(runner: Runner, sandbox: Sandbox, dry_run):
    event = runner.event()
    event, mapping = sandbox.map_alert(event)
    instance_id = next(v for k, v in mapping.items() if k.startswith("i-"))
    before = (_instance(sandbox, instance_id), _eni_groups(sandbox, instance_id))

    result = runner.run(event).result

    assert result["mapping"] == {}  # the alert already names the look-alike compared above
    assert result["status"] == "planned"
    assert {a["status"] for a in result["actions"]} == {"planned"}
    after = (_instance(sandbox, instance_id), _eni_groups(sandbox, instance_id))
    assert after == before
    posted = approval_card(sandbox, result["incident_id"])
    assert posted is not None
    assert "Dry run" in json.dumps(posted, ensure_ascii=False)


def test_a_dry_run_release_from_the_cli_lists_the_calls_and_changes_nothing(sandbox: Sandbox, approved):
    _, result = approved
    instance_id = _look_alike(result)
    isolated = _eni_groups(sandbox, instance_id)

    released = CliRunner().invoke(
        app,
        ["release", result["incident_id"], "--dry-run"],
        env={
            "TOURNIQUET_TABLE": sandbox.deployment.table_name(),
            "TOURNIQUET_RELEASE_WORKFLOW": sandbox.deployment.outputs["ReleaseStateMachineArn"],
        },
    )

    assert released.exit_code == 0, released.output
    assert "PLANNED" in released.stdout
    assert "isolate_network" in released.stdout
    assert _eni_groups(sandbox, instance_id) == isolated
    assert store.get_incident(result["incident_id"])["status"] == "contained"
    card = sandbox.wait_for_card(result["incident_id"])
    replies = sandbox.slack.messages(card.channel)
    assert any("Release planned" in message.text for message in replies)
