"""The intake functions' own settings (the webhook and the dispatcher), read from the environment per call."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", frozen=True)

    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    webhook_secret_arn: str | None = Field(default=None, alias="WEBHOOK_SECRET_ARN")
