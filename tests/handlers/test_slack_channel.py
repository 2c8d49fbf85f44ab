"""Slack as a channel (``tourniquet.channels.slack``) against moto and the fake Slack Web API: a reply in the
card's thread, or the incident's announcement; alert text escaped; the bound honoured; failures closed."""

from __future__ import annotations

import json
import time
from email.message import Message
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import HTTPError, URLError

import pytest
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from sandbox.slack import FakeSlack, SlackCall
from tests.handlers.approvals import (
    INCIDENT_ID,
    SlackEnv,
    open_incident,
    request_card,
    slack_environment,
)
from tourniquet import store
from tourniquet.channels import Bound, ChannelFailed, Decided, Step, Update, UpdateKind
from tourniquet.channels.slack import SlackChannel
from tourniquet.intake.model import Severity
from tourniquet.slack import client
from tourniquet.state import Verdict

QUICK = Bound(attempts=3, timeout=1.0, total=5.0)
HOSTILE = "<!channel> <@U0BOSS> <https://evil.example|click here> & more"


@pytest.fixture
def slack(aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> SlackEnv:
    # The pause between attempts, shortened: what is tested is how many attempts, not how long each waits.
    monkeypatch.setattr(client, "RETRY_INTERVAL", BackoffRetryIntervalCalculator(backoff_factor=0.01))
    return slack_environment(fake_slack, monkeypatch)


def update(kind: UpdateKind = UpdateKind.CLOSED, **changes: Any) -> Update:
    values: dict[str, Any] = {
        "kind": kind,
        "incident_id": INCIDENT_ID,
        "severity": "HIGH",
        "title": f"Instance i-0a1b2c3d4e5f67890 {HOSTILE}",
        "status": "contained",
        "summary": "The incident is contained.",
        "steps": (Step(name="isolate_network", status="done", verified=True, mode="auto"),),
        "decided": Decided(status="approved", people=("U0APPROVER",), at="2026-12-07T08:00:00Z"),
    }
    values.update(changes)
    return Update(**values)


def posts(env: SlackEnv) -> list[SlackCall]:
    """This test's chat.postMessage calls, the card's first."""
    channel = env.fake.channel_id(env.channel)
    return [c for c in env.fake.calls("chat.postMessage") if c.args.get("channel") in (env.channel, channel)]


def send(change: Update, bound: Bound = QUICK) -> None:
    SlackChannel.connect().send(change, bound)


def test_an_update_of_an_incident_with_a_card_is_a_reply_in_the_cards_thread(slack: SlackEnv):
    card = request_card()

    send(update(UpdateKind.RESOLVED, status="resolved", reason="Alarm back to OK"))

    [reply] = [m for m in slack.fake.messages(slack.channel) if m.thread_ts == card["slack_ts"]]
    assert reply.text == "✅ *Resolved at the source*: Alarm back to OK"


def test_an_incident_without_a_card_is_announced_and_what_follows_replies_under_the_announcement(
    slack: SlackEnv,
):
    open_incident()
    verdict = Verdict(
        summary="Mining traffic", severity=Severity.HIGH, risk_score=70, analyst_action_required=True
    )

    send(update(verdict=verdict))
    send(update(UpdateKind.REPEATED, status="seen again", summary="Seen again (3×)"))  # noqa: RUF001

    announcement, *thread = slack.fake.messages(slack.channel)
    assert announcement.thread_ts is None
    assert announcement.text.startswith("🟠 *HIGH* · Instance i-0a1b2c3d4e5f67890 ")
    assert "🧭 *Triage*: risk *70*/100" in announcement.text
    assert f"🏁 Incident `{INCIDENT_ID}` closed\n✅ *Approved* by <@U0APPROVER>" in announcement.text
    assert "*Outcome: contained*\n✅ isolate_network (auto): done" in announcement.text
    incident = store.get_incident(INCIDENT_ID)
    assert incident is not None
    assert (incident["slack_channel"], incident["slack_ts"]) == (announcement.channel, announcement.ts)
    assert [m.thread_ts for m in thread] == [announcement.ts, announcement.ts]
    assert thread[0].text.startswith("🧭 *Triage*: Mining traffic")
    assert thread[1].text == "🔁 Seen again (3×)"  # noqa: RUF001


def test_a_repeat_or_an_all_clear_of_an_incident_nobody_was_shown_is_not_posted(slack: SlackEnv):
    open_incident()

    send(update(UpdateKind.REPEATED, summary="Seen again (1×)"))  # noqa: RUF001
    send(update(UpdateKind.RESOLVED, status="resolved"))

    assert slack.fake.messages(slack.channel) == []


def test_every_alert_field_is_escaped(slack: SlackEnv):
    request_card()

    send(
        update(
            UpdateKind.FAILED,
            status="failed",
            summary=f"containment could not be carried out on {HOSTILE}",
            reason=HOSTILE,
            next_step=HOSTILE,
            execution_id=HOSTILE,
            steps=(),
        )
    )
    send(
        update(
            steps=(Step(name=HOSTILE, status=HOSTILE, verified=False, mode=HOSTILE),), affected=(HOSTILE,) * 2
        )
    )
    send(
        update(
            UpdateKind.RELEASED,
            status="released",
            steps=(Step(name=HOSTILE, status="done", verified=True, target=f"`{HOSTILE}`"),),
            decided=Decided(status="released", people=(HOSTILE,)),
        )
    )

    texts = [call.text or "" for call in posts(slack)[1:]]
    assert len(texts) == 3
    for text in texts:
        assert "<!channel>" not in text and "<@U0BOSS>" not in text and "<https://" not in text
        assert "&lt;@U0BOSS&gt;" in text


def test_a_post_whose_answer_times_out_is_posted_once_and_fails_in_plain_words(slack: SlackEnv):
    """Slack may have stored a post it did not answer in time: trying again could post it twice."""
    card = request_card()
    slack.fake.answer_slowly("chat.postMessage", 1.5)

    with pytest.raises(ChannelFailed) as failed:
        send(update(), Bound(attempts=3, timeout=1.0, total=5.0))

    assert str(failed.value) == "Slack chat.postMessage failed: TimeoutError"
    assert len([m for m in slack.fake.messages(slack.channel) if m.thread_ts == card["slack_ts"]]) == 1


def test_a_5xx_is_not_retried_and_fails_closed_in_plain_words(slack: SlackEnv):
    """A 5xx comes after the request was sent: Slack may have stored it."""
    request_card()
    slack.fake.fail_next("chat.postMessage", status=500)

    with pytest.raises(ChannelFailed) as failed:
        send(update(), Bound(attempts=3, timeout=1.0, total=5.0))

    assert str(failed.value) == "Slack chat.postMessage failed: HTTP 500"
    assert [call.ok for call in posts(slack)] == [True, False]


def test_only_a_connection_that_failed_or_a_rate_limit_is_retried(slack: SlackEnv):
    """Nothing reached Slack, or Slack refused it: the only cases where another try cannot post twice. The
    approval gate's client (no bound of a channel's) retries the same way, once."""
    request = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})
    server_error = HTTPError(request.url, 503, "Service Unavailable", Message(), None)

    def retried(handlers: list[RetryHandler], **outcome: Any) -> bool:
        return any(h.can_retry(state=RetryState(), request=request, **outcome) for h in handlers)

    for handlers in (client.retries_within(3, 5.0), client.Slack.connect()._client.retry_handlers):
        assert retried(handlers, error=URLError(ConnectionRefusedError(111, "Connection refused")))
        assert not retried(handlers, error=TimeoutError("timed out"))
        assert not retried(handlers, error=ConnectionResetError(104, "Connection reset by peer"))
        assert not retried(handlers, error=RemoteDisconnected("Remote end closed connection"))
        assert not retried(
            handlers, error=server_error, response=HttpResponse(status_code=503, headers={}, data=b"")
        )
    rate_limited = HttpResponse(status_code=429, headers={"Retry-After": "0"}, data=b"")
    assert retried(client.retries_within(3, 5.0), response=rate_limited)


def test_a_rate_limit_that_outlasts_the_bound_fails_at_once(slack: SlackEnv):
    request_card()
    slack.fake.fail_next("chat.postMessage", error="ratelimited")  # Retry-After: 1
    started = time.monotonic()

    with pytest.raises(ChannelFailed, match="ratelimited"):
        send(update(), Bound(attempts=3, timeout=1.0, total=1.5))

    assert time.monotonic() - started < 1
    assert [call.ok for call in posts(slack)] == [True, False]


def test_each_attempt_is_given_the_bounds_timeout(slack: SlackEnv, monkeypatch: pytest.MonkeyPatch):
    request_card()
    timeouts: list[int] = []
    connect = client.Slack.connect

    def spy(**kwargs: Any) -> client.Slack:
        made = connect(**kwargs)
        timeouts.append(made._client.timeout)
        return made

    monkeypatch.setattr(client.Slack, "connect", spy)

    send(update(), Bound(attempts=1, timeout=2.0, total=2.0))

    assert timeouts == [2]


@pytest.mark.parametrize(
    "secret", [None, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"]
)
def test_a_missing_or_unreadable_bot_token_fails_closed_at_connect(
    slack: SlackEnv, monkeypatch: pytest.MonkeyPatch, secret: str | None
):
    if secret is None:
        monkeypatch.delenv("SLACK_SECRET_ARN")
    else:
        monkeypatch.setenv("SLACK_SECRET_ARN", secret)

    with pytest.raises(ChannelFailed) as failed:
        SlackChannel.connect()

    assert "Slack secret" in str(failed.value)
    assert "Traceback" not in str(failed.value)
    assert json.dumps(str(failed.value))  # one plain line
