"""The sandbox: embedded AWS (moto) running the deployed workflow, a fake Slack, and the local HTTP API."""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import requests
from moto.awslambda.models import lambda_backends
from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer

from sandbox import calls, cloudtrail, patches, standins, trust
from sandbox.bridge import Bridge
from sandbox.calls import CallLog
from sandbox.channels import PAGERDUTY, TEAMS, ChannelStandIns
from sandbox.clicker import Clicker
from sandbox.cloudtrail import TrailStore
from sandbox.deploy import (
    DEFAULT_ACCOUNT_ID,
    Deployment,
    deploy,
    sandbox_slack_secret,
    synthesized_template,
)
from sandbox.interactions import LocalHttpApi
from sandbox.organization import (
    ACCESS_ROLE,
    MEMBER_ACCOUNTS,
    REGIONS,
    Organization,
    Placement,
    create_organization,
    rewrite,
)
from sandbox.seed import Seeder
from sandbox.slack import APP_ID as SLACK_APP_ID
from sandbox.slack import TEAM_ID as SLACK_TEAM_ID
from sandbox.slack import FakeSlack, SlackMessage, SlackUser
from stacks.config import CONTEXT_KEY, playbooks_file, project_context
from stacks.names import MEMBER_STACK_NAME
from tourniquet import aws as tourniquet_aws
from tourniquet import scope as tourniquet_scope
from tourniquet.errors import InvalidAlert
from tourniquet.intake.model import UNKNOWN, Alert
from tourniquet.intake.normalize import parts

REGION = "eu-west-1"
HOST = "127.0.0.1"
APPROVER = SlackUser("U0APPROVER", "alice", "Alice Approver")
# The approver the sandbox deploys unless told otherwise (cdk.json's is a placeholder that a deploy refuses).
SANDBOX_APPROVER_ID = "U0SANDBOXAPPROVER"
OUTSIDER = SlackUser("U0OUTSIDER", "mallory", "Mallory Outsider")
_QUIET_LOGGERS = {
    # One line per request to the moto server.
    "werkzeug": logging.WARNING,
    # Every failure event, caught or not, with a dump of the parsed ASL; the execution history has the errors.
    "moto.stepfunctions.parser.asl.component.eval_component": logging.CRITICAL,
}
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Every channel, so that the demo and the tests show each one (its stand-in, or SNS for e-mail).
SANDBOX_CHANNELS: dict[str, dict[str, Any]] = {"pagerduty": {}, "teams": {}, "email": {}}
# The deployed secret of each channel, known by its description.
_CHANNEL_SECRETS = {PAGERDUTY: "Tourniquet PagerDuty", TEAMS: "Tourniquet Microsoft Teams"}
# moto, os.environ and the patched classes are process-wide: one sandbox at a time.
_ACTIVE = threading.Lock()


def deployed_context(context_overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context the sandbox synthesizes the app with: ``context_overrides`` over the sandbox's own hub
    account, channels and approver."""
    overrides = dict(context_overrides or {})
    config = dict(overrides.get(CONTEXT_KEY) or {})
    # The member stack in an account other than the hub's names the hub's roles there (a StackSet deploys
    # it so); the same template serves the hub's own account.
    config.setdefault("hub_account_id", DEFAULT_ACCOUNT_ID)
    config.setdefault("channels", SANDBOX_CHANNELS)
    config.setdefault("approvers", [SANDBOX_APPROVER_ID])
    overrides[CONTEXT_KEY] = config
    return overrides


def playbooks_environment(overrides: Mapping[str, Any]) -> dict[str, str]:
    """The functions' PLAYBOOKS_FILE for the deployment's own playbooks (``overrides``, else cdk.json's),
    if it names any: here the handlers run from the source tree, not from the asset the file is copied
    into."""
    named = overrides.get("playbooks", project_context().get(CONTEXT_KEY, {}).get("playbooks"))
    return {"PLAYBOOKS_FILE": str(playbooks_file(named))} if named else {}


class Sandbox:
    """The workflow, deployed from the synthesized template into an embedded AWS on 127.0.0.1.

    ``time_scale`` scales ``waitForTaskToken`` timeouts (0.001 lets a 3600 s approval expire in 3.6 s);
    ``retry_time_scale`` scales retry intervals (compressed to almost nothing by default). The approvers are
    the deployed ones (``APPROVERS``) unless ``approvers`` replaces them; the fake Slack knows each of them,
    and :attr:`approver` is the first (``alice``).

    With ``organization`` (the default) the embedded AWS is an organization (:mod:`sandbox.organization`):
    the hub's account and member accounts, in the hub's region and a second one. The member stack is deployed
    into each account that has it, the functions act in the accounts and regions in scope, and look-alikes
    are created in the account and region a finding names.
    """

    def __init__(
        self,
        *,
        template: Mapping[str, Any] | None = None,
        context_overrides: Mapping[str, Any] | None = None,
        time_scale: float = 1.0,
        retry_time_scale: float = 0.001,
        region: str = REGION,
        approvers: Sequence[str] | None = None,
        function_environment: Mapping[str, str] | None = None,
        stack_name: str = "Tourniquet",
        organization: bool = True,
        model: bool = False,
        on_stage: Callable[[str, float], None] | None = None,
    ) -> None:
        self._scale = patches.TimeScale()
        # Told of each start-up stage (its name and seconds) as it ends, for a progress display.
        self._on_stage = on_stage
        self.time_scale = time_scale
        self.retry_time_scale = retry_time_scale
        self._template = dict(template) if template is not None else None
        self._context_overrides = dict(context_overrides) if context_overrides else None
        self.region = region
        self._approver_override = tuple(approvers) if approvers is not None else None
        self.approver = APPROVER
        self._function_environment = dict(function_environment or {})
        # Security Hub's status updates and Bedrock's Converse, which moto lacks, answered here.
        self.securityhub = standins.SecurityHubStandIn()
        self.model = standins.ConverseStandIn()
        # PagerDuty's Events API and the Teams webhook.
        self.channels = ChannelStandIns()
        if model:
            self._function_environment.setdefault("TRIAGE_MODEL_ID", standins.MODEL_ID)
        self.stack_name = stack_name
        self.slack_credentials = sandbox_slack_secret()
        self.trail = TrailStore()
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}
        self.synth_cache_hit: bool | None = None
        self._server: ThreadedMotoServer | None = None
        self._patcher = patches.Patcher()
        self._runtime = patches.LambdaRuntime()
        self._saved_environ: dict[str, str | None] = {}
        self._saved_stepfunctions_config: Any = None
        self._saved_log_levels: dict[str, int] = {}
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._deployment: Deployment | None = None
        self.member_deployment: Deployment | None = None
        self.member_deployments: dict[str, Deployment] = {}
        self._with_organization = organization
        self.organization: Organization | None = None
        self.calls = CallLog()
        self._placement: Placement | None = None
        self._seeders: dict[tuple[str, str], Seeder] = {}
        self._incident_of_execution: dict[str, str] = {}
        self._account_credentials: dict[str, dict[str, str]] = {}
        self._slack: FakeSlack | None = None
        self._api: LocalHttpApi | None = None
        self._bridge: Bridge | None = None
        self._seeder: Seeder | None = None
        self._clicker: Clicker | None = None
        self._owns_active = False

    @property
    def time_scale(self) -> float:
        """Factor on ``waitForTaskToken`` timeouts; may be changed while the sandbox runs."""
        return self._scale.callback_timeout

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if value <= 0:
            raise ValueError("time_scale must be positive")
        self._scale.callback_timeout = value

    @property
    def retry_time_scale(self) -> float:
        """Factor on retry intervals; may be changed while the sandbox runs."""
        return self._scale.retry

    @retry_time_scale.setter
    def retry_time_scale(self, value: float) -> None:
        if value < 0:
            raise ValueError("retry_time_scale must not be negative")
        self._scale.retry = value

    # Lifecycle

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Sandbox:
        if not _ACTIVE.acquire(blocking=False):
            raise RuntimeError("another sandbox is running in this process")
        self._owns_active = True
        began = time.monotonic()
        try:
            self._start_moto()
            self._mark("moto", began)
            self._install_patches()
            self._slack = FakeSlack(self.slack_credentials["bot_token"], host=HOST).start()
            self._slack.add_user(APPROVER)
            self._slack.add_user(OUTSIDER)
            self.channels.start(HOST)
            step = time.monotonic()
            template, member_template = self._load_templates()
            self._mark("synth", step)
            if self._with_organization:
                step = time.monotonic()
                self.organization = create_organization(self.client("organizations"), regions=self.regions)
                self._mark("organization", step)
            step = time.monotonic()
            self._deployment = deploy(
                template,
                endpoint_url=self.endpoint_url,
                region=self.region,
                stack_name=self.stack_name,
                function_environment=self._deployed_environment(),
                default_secret=self.slack_credentials,
                secret_values=self._channel_secrets(template),
                session=self._boto_session(),
            )
            self._mark("deploy", step)
            if member_template is not None:
                step = time.monotonic()
                # The hub acts in its own account through the member roles, as in every other account.
                for account in self.accounts_with_member_stack:
                    self.member_deployments[account] = deploy(
                        member_template,
                        endpoint_url=self.endpoint_url,
                        region=self.region,
                        stack_name=MEMBER_STACK_NAME,
                        session=self._boto_session(),
                        # The clients that seed the account later: each costs tens of milliseconds.
                        clients=functools.partial(self.account_client, account=account),
                        account_id=account,
                    )
                self.member_deployment = self.member_deployments[self.deployment.account_id]
                self._mark("member stacks", step)
            self._after_deploy()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop every server and thread, undo the patches and give the process its environment back.

        Executions still waiting for a task token are left behind with moto's state; finish them first.
        """
        try:
            self._forget_identities()
            if self._bridge is not None:
                self._bridge.stop()
            if self._api is not None:
                self._api.stop()
            if self._slack is not None:
                self._slack.stop()
                self.channels.stop()
            self._runtime.shutdown()
            if self._server is not None:
                self._stop_moto(self._server)
        finally:
            self._patcher.restore()
            self._restore_environ()
            for name, level in self._saved_log_levels.items():
                logging.getLogger(name).setLevel(level)
            self._server = self._deployment = self._slack = self._api = self._bridge = None
            self._seeder = self._clicker = None
            self._seeders.clear()
            self._account_credentials.clear()
            self._placement = None
            self.organization = None
            self.member_deployments = {}
            self._saved_log_levels = {}
            self._clients.clear()
            self._session = None
            if self._owns_active:
                self._owns_active = False
                _ACTIVE.release()

    def _stop_moto(self, server: ThreadedMotoServer) -> None:
        try:
            # moto's state is process-wide: leave none of this sandbox's resources to the next user.
            requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=30).raise_for_status()
        finally:
            if self._saved_stepfunctions_config is not None:
                default_user_config["stepfunctions"] = self._saved_stepfunctions_config
                self._saved_stepfunctions_config = None
            server.stop()
            # ThreadedMotoServer.stop() leaves the listening socket open.
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()

    @staticmethod
    def _forget_identities() -> None:
        """The runtime keeps assumed credentials and the organization's layout per process: a new embedded
        AWS has other accounts behind the same names, so nothing of a previous one may be reused."""
        tourniquet_aws.forget_credentials()
        tourniquet_scope.forget_organization()

    def _mark(self, step: str, began: float) -> None:
        self.timings[step] = round(time.monotonic() - began, 3)
        if self._on_stage is not None:
            self._on_stage(step, self.timings[step])

    def _start_moto(self) -> None:
        for name, level in _QUIET_LOGGERS.items():
            self._saved_log_levels[name] = logging.getLogger(name).level
            logging.getLogger(name).setLevel(level)
        self._saved_stepfunctions_config = dict(default_user_config.get("stepfunctions", {}))
        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._server.start()
        port = self._server.get_host_and_port()[1]
        missing = str(Path(tempfile.gettempdir()) / "tourniquet-sandbox-no-such-file")
        self._set_environ(
            {
                # moto's Step Functions engine calls Lambda and the other services on this port.
                "MOTO_PORT": str(port),
                "AWS_ENDPOINT_URL": f"http://{HOST}:{port}",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                # Never pick up a real profile or credentials file while the sandbox runs.
                "AWS_PROFILE": None,
                "AWS_DEFAULT_PROFILE": None,
                "AWS_SHARED_CREDENTIALS_FILE": missing,
                "AWS_CONFIG_FILE": missing,
            }
        )
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=30).raise_for_status()
        requests.post(
            f"{self.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=30,
        ).raise_for_status()

    def _install_patches(self) -> None:
        self._forget_identities()
        patches.install_lambda_hook(self._patcher, self._runtime)
        patches.install_time_scaling(self._patcher, self._scale)
        patches.install_eni_groups_fix(self._patcher)
        patches.install_transaction_fix(self._patcher)
        patches.install_atomic_dynamodb_requests(self._patcher)
        patches.install_direct_dynamodb_items(self._patcher)
        patches.install_partition_queries(self._patcher)
        patches.install_health(self._patcher)
        patches.install_module_list_cache(self._patcher)
        patches.install_definition_cache(self._patcher)
        patches.install_json_path_cache(self._patcher)
        patches.install_action_names_cache(self._patcher)
        patches.install_sns_signing_key(self._patcher)
        patches.install_shared_service_models(self._patcher)
        patches.install_user_agent_cache(self._patcher)
        patches.install_in_process_requests(self._patcher, self.endpoint_url)
        cloudtrail.install(self._patcher, self.trail)
        standins.install(self._patcher, self.securityhub, self.model)
        trust.install(self._patcher)
        calls.install(self._patcher, self.calls)

    def _load_templates(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The hub's template and, when synthesized from the app, the member stack's."""
        if self._template is not None:
            return self._template, None
        overrides = deployed_context(self._context_overrides)
        self._function_environment.update(playbooks_environment(overrides[CONTEXT_KEY]))
        synthesized = synthesized_template(overrides)
        self.synth_cache_hit = synthesized.cache_hit
        return synthesized.template, synthesized.member_template

    def _deployed_environment(self) -> dict[str, str]:
        environment = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "SLACK_API_URL": self.slack.api_url,
            "PAGERDUTY_EVENTS_URL": self.channels.pagerduty_url,
            # The fake Slack's workspace and app: clicks are refused unless both are configured.
            "SLACK_TEAM_ID": SLACK_TEAM_ID,
            "SLACK_APP_ID": SLACK_APP_ID,
            # In AWS the metric documents go to the function's log; here they would mix into the CLI's
            # output. The incident keeps the same figures (`measures`), and reports compute them anew.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        if self.organization is not None:
            environment.update(self.organization.scope_environment())
        if self._approver_override is not None:
            environment["APPROVERS"] = ",".join(self._approver_override)
        environment.update(self._function_environment)
        return environment

    def _channel_secrets(self, template: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """The stand-ins' routing key and webhook URL, for the channel secrets the template deploys."""
        values = self.channels.secrets()
        found = {}
        for logical_id, resource in (template.get("Resources") or {}).items():
            description = str((resource.get("Properties") or {}).get("Description", ""))
            for channel, prefix in _CHANNEL_SECRETS.items():
                if resource.get("Type") == "AWS::SecretsManager::Secret" and description.startswith(prefix):
                    found[logical_id] = dict(values[channel])
        return found

    def _register_approvers(self) -> None:
        """Make the deployed approvers known to the fake Slack: user ids as users, group ids as groups."""
        configured = {
            approver.strip()
            for info in self.deployment.functions.values()
            for approver in info.environment.get("APPROVERS", "").split(",")
            if approver.strip()
        }
        self.approver = APPROVER
        users = sorted(approver for approver in configured if not approver.startswith("S"))
        for group in sorted(configured - set(users)):
            self.slack.add_usergroup(group, [APPROVER.id])
        if users:
            self.approver = SlackUser(users[0], APPROVER.name, APPROVER.real_name)
        for user in users:
            self.slack.add_user(SlackUser(user, APPROVER.name if user == users[0] else user.lower()))

    def _after_deploy(self) -> None:
        self._register_approvers()
        deployment = self.deployment
        tables = deployment.of_type("AWS::DynamoDB::Table") + deployment.of_type("AWS::DynamoDB::GlobalTable")
        if len(tables) == 1:
            # Lets tests use the runtime package's own table helpers against the sandbox.
            self._set_environ({"TABLE_NAME": tables[0].physical_id})
        self._api = LocalHttpApi(deployment, self.client("lambda"), host=HOST).start()
        bridge = Bridge(
            deployment.bridges, sqs=self.client("sqs"), stepfunctions=self.client("stepfunctions")
        )
        patches.install_queue_wakeup(self._patcher, bridge.queue_names, bridge.notify)
        self._bridge = bridge.start()
        self._clicker = Clicker(self._api.url(), self.slack_credentials["signing_secret"], self.slack)
        self._seeder = Seeder(
            ec2=self.client("ec2"),
            iam=self.client("iam"),
            trail=self.trail,
            region=self.region,
            account_id=deployment.account_id,
        )
        self._seeders[deployment.account_id, self.region] = self._seeder
        organization = self.organization
        self._placement = Placement(
            accounts=(deployment.account_id, *(organization.account_ids if organization else ())),
            look_alike_accounts=MEMBER_ACCOUNTS if organization else (),
            regions=self.regions,
        )

    def _set_environ(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if name not in self._saved_environ:
                self._saved_environ[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    # Parts

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def deployment(self) -> Deployment:
        if self._deployment is None:
            raise RuntimeError("the sandbox is not running")
        return self._deployment

    @property
    def slack(self) -> FakeSlack:
        if self._slack is None:
            raise RuntimeError("the sandbox is not running")
        return self._slack

    @property
    def api(self) -> LocalHttpApi:
        if self._api is None:
            raise RuntimeError("the sandbox is not running")
        return self._api

    @property
    def bridge(self) -> Bridge:
        if self._bridge is None:
            raise RuntimeError("the sandbox is not running")
        return self._bridge

    @property
    def seed(self) -> Seeder:
        if self._seeder is None:
            raise RuntimeError("the sandbox is not running")
        return self._seeder

    @property
    def clicker(self) -> Clicker:
        if self._clicker is None:
            raise RuntimeError("the sandbox is not running")
        return self._clicker

    @property
    def interactions_url(self) -> str:
        return self.api.url()

    def _boto_session(self) -> boto3.session.Session:
        # One session: botocore loads its models once, not once per client.
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        return self._session

    def client(self, service: str) -> Any:
        """A boto3 client for the embedded AWS, made once per service (safe to share between threads)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self._boto_session().client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint_url
                )
            return self._clients[service]

    # Accounts and regions

    @property
    def hub_account(self) -> str:
        return self.deployment.account_id

    @property
    def regions(self) -> tuple[str, ...]:
        """The hub's region first; with the organization, the second region too."""
        if not self._with_organization:
            return (self.region,)
        return (self.region, *(region for region in REGIONS if region != self.region))

    @property
    def accounts_with_member_stack(self) -> tuple[str, ...]:
        if self.organization is None:
            return (self.hub_account,)
        return self.organization.with_member_stack

    def _credentials_for(self, account: str) -> dict[str, str]:
        """Client arguments that act in ``account``: none for the hub's own, else a session of the
        organization's access role there, as the management account reaches its accounts."""
        if account == self.hub_account:
            return {}
        with self._clients_lock:
            known = self._account_credentials.get(account)
        if known is not None:
            return known
        assumed = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName="tourniquet-sandbox"
        )["Credentials"]
        credentials = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
        with self._clients_lock:
            return self._account_credentials.setdefault(account, credentials)

    def account_client(self, service: str, account: str, region: str | None = None) -> Any:
        """A boto3 client acting in ``account`` (one of the organization's) and ``region`` (the hub's by
        default), made once per service, account and region."""
        region = region or self.region
        if account == self.hub_account and region == self.region:
            return self.client(service)
        credentials = self._credentials_for(account)
        key = f"{service}@{account}/{region}"
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._boto_session().client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint_url, region_name=region, **credentials
                )
            return self._clients[key]

    def function_credentials(self, handler: str) -> dict[str, str]:
        """The credentials the deployed function with ``handler`` runs with (a session of its own role), as
        client arguments: to call AWS exactly as that function does."""
        info = self.deployment.function(handler)
        function = lambda_backends[self.hub_account][self.region].get_function(info.name)
        credentials = self._runtime.role_credentials(function)
        return {
            "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": credentials["AWS_SESSION_TOKEN"],
        }

    def seeder(self, account: str | None = None, region: str | None = None) -> Seeder:
        """The look-alike maker of ``account`` and ``region`` (the hub's and its region by default)."""
        account = account or self.hub_account
        region = region or self.region
        with self._clients_lock:
            known = self._seeders.get((account, region))
        if known is not None:
            return known
        made = Seeder(
            ec2=self.account_client("ec2", account, region),
            iam=self.account_client("iam", account),
            trail=self.trail,
            region=region,
            account_id=account,
        )
        with self._clients_lock:
            return self._seeders.setdefault((account, region), made)

    def siem_messages(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Everything waiting on the SIEM queue, as a SIEM takes it (received and deleted): each message's
        ``MessageId``, ``Body`` and ``MessageAttributes``."""
        [queue] = [
            r for r in self.deployment.of_type("AWS::SQS::Queue") if r.logical_id.startswith("SiemFeedQueue")
        ]
        sqs = self.client("sqs")
        taken: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=queue.physical_id,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=wait_seconds if not taken else 0,
            ).get("Messages", [])
            if not batch:
                return taken
            for message in batch:
                sqs.delete_message(QueueUrl=queue.physical_id, ReceiptHandle=message["ReceiptHandle"])
            taken += batch

    @property
    def table(self) -> Any:
        """The workflow's DynamoDB table (boto3 ``Table`` resource)."""
        with self._clients_lock:
            if "dynamodb-resource" not in self._clients:
                self._clients["dynamodb-resource"] = self._boto_session().resource(
                    "dynamodb", endpoint_url=self.endpoint_url
                )
            resource = self._clients["dynamodb-resource"]
        return resource.Table(self.deployment.table_name())

    # Driving the workflow

    def put_event(self, event: Mapping[str, Any], *, event_bus: str = "default") -> None:
        """Publish ``event`` (an EventBridge event as rules see it) with PutEvents; the bridge starts it."""
        entry: dict[str, Any] = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event.get("detail", {})),
            "Resources": list(event.get("resources", [])),
            "EventBusName": event_bus,
        }
        if event.get("time"):
            entry["Time"] = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        response = self.client("events").put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents rejected the event: {response['Entries']}")

    def start_execution(
        self, event: Mapping[str, Any], *, name: str | None = None, state_machine_arn: str | None = None
    ) -> str:
        """Start the workflow directly with ``event`` as its input; returns the execution ARN."""
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn or self.deployment.outputs["StateMachineArn"],
            name=name or str(uuid.uuid4()),
            input=json.dumps(event),
        )
        return str(response["executionArn"])

    def wait_for_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """``describe_execution`` once the execution has finished; TimeoutError if it is still running."""
        deadline = time.monotonic() + timeout
        stepfunctions = self.client("stepfunctions")
        # Short first, then longer: each poll takes the interpreter from the workflow it waits for.
        pause = 0.02
        while True:
            described: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution_arn)
            if described["status"] in _TERMINAL:
                return described
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout}s")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)

    def release_execution_arn(self, incident_id: str) -> str:
        """The release run an approved Release click starts: it is named after the incident's offer."""
        item = self.table.get_item(
            Key={"pk": f"INCIDENT#{incident_id}", "sk": "INCIDENT"}, ConsistentRead=True
        )
        offer = item.get("Item", {}).get("release_approval_id")
        if not offer:
            raise LookupError(f"incident {incident_id} was offered no release")
        machine = self.deployment.outputs["ReleaseStateMachineArn"]
        return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{offer}"

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self.client("stepfunctions").get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def _incident(self, incident_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(
            Key={"pk": f"INCIDENT#{incident_id}", "sk": "INCIDENT"}, ConsistentRead=True
        )
        found: dict[str, Any] | None = item.get("Item")
        return found

    def incident_id_for(self, execution_arn: str) -> str | None:
        """The incident an execution opened (its incident item records the execution id).

        Read from the Deduplicate step's output and the incident item, not by scanning the table: callers
        poll this while the table grows with every incident of the run."""
        if execution_arn in self._incident_of_execution:
            return self._incident_of_execution[execution_arn]
        for event in self.execution_history(execution_arn):
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") == "Deduplicate":
                incident_id = (json.loads(details.get("output") or "{}").get("incident") or {}).get("id")
                incident = self._incident(str(incident_id)) if incident_id else None
                if incident is not None and incident.get("execution_id") == execution_arn:
                    self._incident_of_execution[execution_arn] = str(incident_id)
                    return str(incident_id)
                return None
        return None

    def _find_card(self, key: str) -> SlackMessage | None:
        incident_id = self.incident_id_for(key) if key.startswith("arn:") else key
        if incident_id is None:
            return None
        card = self.slack.find_card(incident_id)
        if card is not None:
            return card
        # A card need not print the incident id; its buttons always carry the approval id.
        approval_id = (self._incident(incident_id) or {}).get("approval_id")
        return self.slack.find_card(str(approval_id)) if approval_id else None

    def wait_for_card(self, key: str, timeout: float = 15.0) -> SlackMessage:
        """The approval card (a message with buttons) for an incident id, approval id or execution ARN, once
        the function that posted it has returned (it records the card's message and the request after
        posting)."""
        card = self.slack.wait_for(lambda: self._find_card(key), timeout)
        self._runtime.settle()
        return card

    def click(
        self, card: SlackMessage, action_id: str, user_id: str | None = None, **overrides: Any
    ) -> tuple[int, str]:
        """Press a button on ``card`` as ``user_id``, through the signed interactions endpoint.

        Returns the HTTP ``(status, body)`` the handler answered with.

        ``overrides`` go to :meth:`sandbox.clicker.Clicker.click` (``timestamp``, ``signature``,
        ``signing_secret``, ``payload``).
        """
        result = self.clicker.click(card, action_id, user_id or self.approver.id, **overrides)
        return result.status, result.body

    def fail_after_running(
        self, handler: str, error: str = "Lambda.ServiceException", times: int = 1
    ) -> None:
        """The next ``times`` invocations of the function with ``handler`` (a dotted handler string) run to
        the end, their writes land, and then answer ``error`` to the workflow."""
        self._runtime.fail_after_running(handler, error, times)

    def map_alert(self, event: Mapping[str, Any], **options: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Create look-alikes of what ``event`` names, in the account and region it names (or the ones they
        are mapped to); returns the rewritten event and the mapping ``{original: look-alike}`` of accounts,
        regions and ids."""
        if self._placement is None:
            raise RuntimeError("the sandbox is not running")
        account, region, placed = self._placement.place(*_where(event))
        moved = rewrite(dict(event), placed) if placed else dict(event)
        rewritten, mapping = self.seeder(account, region).map_alert(moved, **options)
        return rewritten, {**placed, **mapping}


def _where(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The account and region an alert's subject is in, as the workflow reads them; None where it does not
    say (or cannot be read: the seeder copes with such an alert in the hub's account)."""
    try:
        found = parts(dict(event))
        outcome = found[0].parse() if len(found) == 1 else None
    except (InvalidAlert, RecursionError, ValueError, TypeError, KeyError, AttributeError):
        return None, None
    if not isinstance(outcome, Alert):
        return None, None
    resource = outcome.primary_resource
    region = (resource.region if resource else None) or outcome.region
    return (
        outcome.account if outcome.account != UNKNOWN else None,
        region if region and region != UNKNOWN else None,
    )
