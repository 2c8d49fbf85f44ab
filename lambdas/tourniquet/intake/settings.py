"""The intake functions' own settings (the webhook and the dispatcher), read from the environment per call."""

from __future__ import annotations

from pydantic import Field

from tourniquet.settings import EnvironmentSettings

DEFAULT_WEBHOOK_MAX_ALERTS = 100


class IntakeSettings(EnvironmentSettings):
    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    webhook_secret_arn: str | None = Field(default=None, alias="WEBHOOK_SECRET_ARN")
    # The most alerts one webhook request may carry; each starts an execution within the function's time.
    # Alertmanager's receiver setting max_alerts should be the same number: it then truncates and says so.
    webhook_max_alerts: int = Field(default=DEFAULT_WEBHOOK_MAX_ALERTS, alias="WEBHOOK_MAX_ALERTS", ge=1)
