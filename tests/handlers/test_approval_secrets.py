"""The Slack secret: read from Secrets Manager, cached per ARN, and never echoed in errors."""

from __future__ import annotations

import json
import traceback

import pytest

from tests.helpers import moto_client
from tourniquet.errors import SlackUnavailable
from tourniquet.secrets import slack_secret


def _create(name: str, value: str) -> str:
    return str(moto_client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"])


def test_the_secret_is_read_from_secrets_manager(aws, monkeypatch):
    arn = _create("slack", json.dumps({"bot_token": "xoxb-1-read", "signing_secret": "signing-1"}))
    monkeypatch.setenv("SLACK_SECRET_ARN", arn)

    secret = slack_secret()

    assert secret.bot_token.get_secret_value() == "xoxb-1-read"
    assert secret.signing_secret.get_secret_value() == "signing-1"
    assert "xoxb-1-read" not in repr(secret)


def test_the_secret_is_fetched_once_and_then_served_from_the_cache(aws, monkeypatch):
    arn = _create("slack-cached", json.dumps({"bot_token": "xoxb-first", "signing_secret": "first"}))
    monkeypatch.setenv("SLACK_SECRET_ARN", arn)
    slack_secret()
    moto_client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString=json.dumps({"bot_token": "xoxb-second", "signing_secret": "second"})
    )

    assert slack_secret().bot_token.get_secret_value() == "xoxb-first"


def test_the_cache_is_keyed_by_arn(aws, monkeypatch):
    first = _create("slack-a", json.dumps({"bot_token": "xoxb-a", "signing_secret": "a"}))
    second = _create("slack-b", json.dumps({"bot_token": "xoxb-b", "signing_secret": "b"}))

    monkeypatch.setenv("SLACK_SECRET_ARN", first)
    from_first = slack_secret().bot_token.get_secret_value()
    monkeypatch.setenv("SLACK_SECRET_ARN", second)
    from_second = slack_secret().bot_token.get_secret_value()

    assert (from_first, from_second) == ("xoxb-a", "xoxb-b")


def test_no_configured_secret_is_slack_unavailable(aws, monkeypatch):
    monkeypatch.delenv("SLACK_SECRET_ARN", raising=False)

    with pytest.raises(SlackUnavailable, match="SLACK_SECRET_ARN"):
        slack_secret()


def test_a_missing_secret_is_slack_unavailable(aws, monkeypatch):
    monkeypatch.setenv("SLACK_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone-AbCdEf")

    with pytest.raises(SlackUnavailable, match="could not be read"):
        slack_secret()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("xoxb-not-json-but-secret", "could not be read"),
        (json.dumps(["xoxb-in-a-list-secret"]), "not a JSON object"),
        (json.dumps({"bot_token": "xoxb-alone-secret"}), "malformed: signing_secret"),
        (json.dumps({"bot_token": "xoxb-blank-secret", "signing_secret": "  "}), "malformed: signing_secret"),
    ],
    ids=["not-json", "not-an-object", "missing-field", "blank-field"],
)
def test_a_malformed_secret_is_slack_unavailable_and_never_echoed(aws, monkeypatch, value, problem):
    monkeypatch.setenv("SLACK_SECRET_ARN", _create("slack-bad", value))

    with pytest.raises(SlackUnavailable, match=problem) as raised:
        slack_secret()

    assert "xoxb" not in "".join(traceback.format_exception(raised.value))
