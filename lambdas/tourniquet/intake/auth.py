"""Who may post alerts to the webhook: a bearer token, or an HMAC-SHA256 signature of the raw body.

Both come from one Secrets Manager secret, JSON ``{"bearer_token": "…", "hmac_secret": "…"}`` (either may be
left out), named by ``WEBHOOK_SECRET_ARN``. It is read once per container and cached for a few minutes, so a
rotation is picked up without a redeploy. Comparisons take constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from tourniquet.secrets import read_json_secret

SIGNATURE_HEADER = "x-tourniquet-signature"
SIGNATURE_PREFIX = "sha256="


class WebhookSecret(BaseModel):
    # hide_input_in_errors keeps the secret values out of validation messages and tracebacks.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    bearer_token: SecretStr | None = None
    hmac_secret: SecretStr | None = None

    @field_validator("bearer_token", "hmac_secret")
    @classmethod
    def _blank_is_absent(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _one_at_least(self) -> WebhookSecret:
        if self.bearer_token is None and self.hmac_secret is None:
            raise ValueError("needs a bearer_token or an hmac_secret")
        return self


def webhook_secret(arn: str) -> WebhookSecret:
    return read_json_secret(arn, WebhookSecret, "webhook secret")


def signature(body: bytes, key: str) -> str:
    """The ``X-Tourniquet-Signature`` value for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def authenticated(headers: Mapping[str, str], body: bytes, secret: WebhookSecret) -> bool:
    """A valid bearer token or a valid body signature (header names in lower case)."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    bearer = secret.bearer_token
    if bearer is not None and scheme.lower() == "bearer" and _same(token.strip(), bearer.get_secret_value()):
        return True
    offered = headers.get(SIGNATURE_HEADER, "").strip().lower()
    if secret.hmac_secret is not None and offered:
        return _same(offered, signature(body, secret.hmac_secret.get_secret_value()))
    return False


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())
