"""Credentials read from Secrets Manager (never from the environment, never logged).

Each secret is a JSON object, fetched once per container and cached for a few minutes, so that a rotation is
picked up without a redeploy. The cache is keyed by the secret's ARN, so functions sharing one process (the
local sandbox) never read each other's secret. The Slack app's secret is
``{"bot_token": "xoxb-…", "signing_secret": "…"}``.
"""

from __future__ import annotations

import threading
from typing import TypeVar

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from tourniquet import aws
from tourniquet.errors import SlackUnavailable
from tourniquet.settings import get_settings

MAX_AGE_SECONDS = 300

_providers: dict[str | None, SecretsProvider] = {}
_lock = threading.Lock()
Model = TypeVar("Model", bound=BaseModel)


class SecretUnreadable(Exception):
    """A secret could not be read or does not hold what it should; the message names no value."""


class SlackSecret(BaseModel):
    # hide_input_in_errors keeps the secret values out of validation messages and tracebacks.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    bot_token: SecretStr
    signing_secret: SecretStr

    @field_validator("bot_token", "signing_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value


def _provider() -> SecretsProvider:
    # One provider (and so one cache) per endpoint; the provider's cache itself is keyed by secret name (ARN).
    endpoint = get_settings().aws_endpoint_url
    with _lock:
        if endpoint not in _providers:
            _providers[endpoint] = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        return _providers[endpoint]


def read_json_secret(arn: str, model: type[Model], what: str) -> Model:
    """The JSON secret at ``arn`` as ``model``; :class:`SecretUnreadable` names ``what`` and the fields."""
    try:
        value = _provider().get(arn, max_age=MAX_AGE_SECONDS, transform="json")
    except (GetParameterError, TransformParameterError) as exc:
        raise SecretUnreadable(f"the {what} could not be read: {type(exc).__name__}") from exc
    if not isinstance(value, dict):
        raise SecretUnreadable(f"the {what} is not a JSON object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise SecretUnreadable(f"the {what} is malformed: {fields or 'invalid'}") from exc


def slack_secret() -> SlackSecret:
    """The secret named by ``SLACK_SECRET_ARN``; raises :class:`SlackUnavailable` if it cannot be read."""
    arn = get_settings().slack_secret_arn
    if not arn:
        raise SlackUnavailable("no Slack secret is configured (SLACK_SECRET_ARN)")
    try:
        return read_json_secret(arn, SlackSecret, "Slack secret")
    except SecretUnreadable as exc:
        raise SlackUnavailable(str(exc)) from exc
