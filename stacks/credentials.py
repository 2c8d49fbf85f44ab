"""The secrets: the Slack app's credentials and the webhook senders' bearer token and HMAC secret.

The functions receive only the secrets' ARNs and read them at run time; no value is ever in the template.
"""

from __future__ import annotations

import json

from aws_cdk import SecretValue, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import acknowledge


def grant_secret_value(grantee: iam.IGrantable, secret: secretsmanager.ISecret) -> None:
    """Allow reading ``secret``'s value, and nothing else about it."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
    )


class Credentials(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.slack_secret = self._slack_secret()
        self.webhook_secret = self._webhook_secret()

    def _slack_secret(self) -> secretsmanager.Secret:
        # The generated signing secret matches no real Slack request, so the approval path fails closed until
        # an operator stores the app's real credentials.
        secret = secretsmanager.Secret(
            self,
            "SlackSecret",
            description="Tourniquet Slack app credentials: JSON with bot_token and signing_secret.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"bot_token": "xoxb-replace-me"}),
                generate_string_key="signing_secret",
                exclude_punctuation=True,
                password_length=40,
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Slack issues the bot token and the signing secret; Secrets Manager cannot rotate them. "
            "docs/deploy.md has the manual rotation (regenerate in Slack, put-secret-value).",
        )
        return secret

    def _webhook_secret(self) -> secretsmanager.Secret:
        # CloudFormation generates one random value per secret, and the webhook secret holds two. The bearer
        # token is generated in a seed secret and copied in through a dynamic reference, which CloudFormation
        # resolves at deploy time: no value is ever in the template. Nothing else reads the seed.
        seed = secretsmanager.Secret(
            self,
            "WebhookTokenSeed",
            description="Tourniquet: the webhook bearer token generated at the first deploy. Read only by "
            "CloudFormation when it creates WebhookSecret; the functions read WebhookSecret.",
            # Letters and digits only: the value is spliced into WebhookSecret's JSON as it is.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        bearer_token = SecretValue.secrets_manager(seed.secret_arn).unsafe_unwrap()
        secret = secretsmanager.Secret(
            self,
            "WebhookSecret",
            description="Tourniquet webhook credentials: JSON with bearer_token and hmac_secret.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=Stack.of(self).to_json_string({"bearer_token": bearer_token}),
                generate_string_key="hmac_secret",
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        reason = (
            "The webhook credentials are also configured in Grafana and Alertmanager, which a rotation "
            "function cannot update; docs/deploy.md has the manual rotation."
        )
        acknowledge(seed, "AwsSolutions-SMG4", reason)
        acknowledge(secret, "AwsSolutions-SMG4", reason)
        return secret
