"""The HTTP edge: one HTTP API for Slack interactivity and alert webhooks, throttled per route and logged."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge

SLACK_INTERACTIONS_PATH = "/slack/interactions"
# Grafana and Alertmanager post to /webhook/grafana and /webhook/alertmanager; the function checks the name.
WEBHOOK_PREFIX = "/webhook/"
WEBHOOK_PATH = f"{WEBHOOK_PREFIX}{{source}}"

# What the HTTP API's access log records: who called which route and how it went. Never headers or bodies,
# which carry the bearer token, signatures and alert contents.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
}


@dataclass(frozen=True)
class RouteThrottle:
    rate_per_second: int
    burst: int


# Slack clicks come a few at a time; monitoring systems send bursts when many alerts fire at once.
SLACK_THROTTLE = RouteThrottle(rate_per_second=10, burst=20)
WEBHOOK_THROTTLE = RouteThrottle(rate_per_second=25, burst=50)

# The API routes authenticate in the function: API Gateway authorizers cannot check either scheme.
_ROUTE_AUTHORIZATION = {
    SLACK_INTERACTIONS_PATH: (
        "Slack signs each request with the app's signing secret (HMAC-SHA256 over the raw body and a "
        "timestamp). The function verifies it on the raw body in constant time within a 300 s window and "
        "answers 401 otherwise; an authorizer never sees the raw body."
    ),
    WEBHOOK_PATH: (
        "Grafana and Alertmanager authenticate with a bearer token or an HMAC signature of the raw body, "
        "both kept in Secrets Manager. The function checks either in constant time and answers 401 "
        "otherwise; a Lambda authorizer never sees the raw body, so the HMAC cannot be checked there."
    ),
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


class HttpEdge(Construct):
    """``POST /slack/interactions`` and ``POST /webhook/{source}``, each served by its function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slack_interaction: lambda_.IFunction,
        webhook: lambda_.IFunction,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        api = apigwv2.HttpApi(
            self,
            "Api",
            description="Tourniquet: Slack interactivity and alert webhooks",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=log_retention)
        stage = apigwv2.HttpStage(
            self,
            "ApiStage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(access_logs),
            # Anything not throttled by a route below is held to the stricter limit.
            throttle=apigwv2.ThrottleSettings(
                rate_limit=SLACK_THROTTLE.rate_per_second, burst_limit=SLACK_THROTTLE.burst
            ),
        )
        routes = {
            SLACK_INTERACTIONS_PATH: ("SlackInteraction", slack_interaction, SLACK_THROTTLE),
            WEBHOOK_PATH: ("Webhook", webhook, WEBHOOK_THROTTLE),
        }
        route_settings = {}
        for path, (name, fn, throttle) in routes.items():
            (route,) = api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.POST],
                integration=integrations.HttpLambdaIntegration(f"{name}Integration", fn),
            )
            route_settings[f"POST {path}"] = {
                "ThrottlingRateLimit": throttle.rate_per_second,
                "ThrottlingBurstLimit": throttle.burst,
            }
            acknowledge(route, "AwsSolutions-APIG4", _ROUTE_AUTHORIZATION[path])
            # The stage's route settings name the route, which must exist first.
            stage.node.add_dependency(route)
        cfn_stage = stage.node.default_child
        if not isinstance(cfn_stage, apigwv2.CfnStage):
            raise TypeError(f"{stage.node.path}: unexpected default child {cfn_stage!r}")
        # The L2 stage throttles only its default route; each route gets its own limits here.
        cfn_stage.add_property_override("RouteSettings", route_settings)
        # The stage URL ends in "/".
        self.slack_interactions_url = f"{stage.url}{SLACK_INTERACTIONS_PATH.lstrip('/')}"
        self.webhook_url = f"{stage.url}{WEBHOOK_PREFIX.lstrip('/')}"
