"""Deploy what the CDK app synthesizes into the embedded AWS (moto), and cache the synthesized template.

The template is walked in dependency order. The resource types the workflow needs are created for real
(tables, secrets, topics, queues, roles, functions, state machines, event buses and rules); everything else
(policies, permissions, API Gateway, log groups, alarms, metadata) is recorded as skipped. HTTP API routes are
not created in moto, but their route keys and Lambda integrations are read so that the local HTTP endpoint
(:mod:`sandbox.interactions`) serves the same paths as the deployed API.

EventBridge rules keep their real event pattern, but each state machine target is replaced by an SQS queue,
because moto's ``put_events`` cannot deliver to Step Functions. :mod:`sandbox.bridge` reads those queues and
starts the executions.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import io
import json
import os
import re
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sandbox.intrinsics import NO_VALUE, Binding, Resolver, TemplateError, deployment_order
from stacks.names import MEMBER_STACK_NAME, STACK_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the synthesized template depends on (bundling is disabled, so the runtime code is not among them).
SYNTH_INPUTS = ("app.py", "cdk.json", "stacks", "statemachines")
CACHE_KEEP = 8

DEFAULT_ACCOUNT_ID = "123456789012"


# Synthesis and its cache


@dataclass(frozen=True)
class SynthesizedTemplate:
    """Every stack's template, by stack name."""

    templates: dict[str, dict[str, Any]]
    key: str
    cache_hit: bool

    @property
    def template(self) -> dict[str, Any]:
        """The hub's template."""
        return self.templates[STACK_NAME]

    @property
    def member_template(self) -> dict[str, Any]:
        """The member stack's template: the roles and the deny-all policy the hub uses in each account."""
        return self.templates[MEMBER_STACK_NAME]


def synth_cache_key(
    context_overrides: Mapping[str, Any] | None = None,
    *,
    root: Path = REPO_ROOT,
    inputs: tuple[str, ...] = SYNTH_INPUTS,
    libraries: tuple[str, ...] = ("aws-cdk-lib",),
) -> str:
    """A hash of every input of the synthesis: the app's files, the libraries' versions and the overrides."""
    digest = hashlib.sha256()
    for library in libraries:
        digest.update(importlib.metadata.version(library).encode() + b"\0")
    digest.update(json.dumps(context_overrides or {}, sort_keys=True, default=str).encode())
    for name in inputs:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def synthesized_template(
    context_overrides: Mapping[str, Any] | None = None,
    *,
    root: Path = REPO_ROOT,
    cache_dir: Path | None = None,
    synthesize: Callable[[dict[str, Any] | None], dict[str, dict[str, Any]]] | None = None,
) -> SynthesizedTemplate:
    """The templates the CDK app synthesizes, from the on-disk cache when its inputs are unchanged. Sandboxes
    starting at once (in test workers) synthesize the same inputs once: the others wait, then read it."""
    key = synth_cache_key(context_overrides, root=root)
    directory = cache_dir if cache_dir is not None else root / ".cache" / "tourniquet"
    cached = directory / f"template-{key}.json"
    if cached.is_file():
        return SynthesizedTemplate(json.loads(cached.read_text()), key, cache_hit=True)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.is_file():
            return SynthesizedTemplate(json.loads(cached.read_text()), key, cache_hit=True)
        if synthesize is None:
            from stacks.synth import synthesize_templates  # noqa: PLC0415 - CDK and jsii load only on a miss

            synthesize = synthesize_templates
        templates = synthesize(dict(context_overrides) if context_overrides else None)
        # Write then rename, so a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".template-", suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(templates, out)
        Path(temporary).replace(cached)
    _prune(directory)
    return SynthesizedTemplate(templates, key, cache_hit=False)


def _prune(directory: Path) -> None:
    """Keep the most recent templates only: every edit of the stack makes a new one."""
    templates = sorted(directory.glob("template-*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in templates[CACHE_KEEP:]:
        stale.unlink(missing_ok=True)


# What a deployment produced


@dataclass(frozen=True)
class DeployedResource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]


@dataclass(frozen=True)
class BridgeTarget:
    """One EventBridge rule target that pointed at a state machine, now delivered through an SQS queue."""

    rule_logical_id: str
    rule_name: str
    target_id: str
    queue_url: str
    state_machine_arn: str
    input: str | None = None
    input_path: str | None = None


_PATH_PARAMETER = re.compile(r"\{([^}/]+?)(\+?)\}")


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP API route (``POST /slack/interactions``) and the function its Lambda integration invokes."""

    route_key: str
    function_name: str
    payload_version: str = "2.0"

    @property
    def method(self) -> str:
        return "ANY" if self.route_key == "$default" else self.route_key.split(" ", 1)[0].upper()

    @property
    def path(self) -> str | None:
        return None if self.route_key == "$default" else self.route_key.split(" ", 1)[1]

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Orders routes that match the same request: literal paths and named methods win."""
        if self.path is None:
            return (0, 0, 0)
        return (1, int(self.method != "ANY"), len(_PATH_PARAMETER.sub("", self.path)))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves ``method path``, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        if self.path is None:
            return {}
        pattern = "^"
        position = 0
        for found in _PATH_PARAMETER.finditer(self.path):
            pattern += re.escape(self.path[position : found.start()])
            greedy = found.group(2) == "+"
            pattern += f"(?P<{_group(found.group(1))}>{'.+' if greedy else '[^/]+'})"
            position = found.end()
        pattern += re.escape(self.path[position:]) + "$"
        matched = re.match(pattern, path)
        if matched is None:
            return None
        return {
            found.group(1): matched.group(_group(found.group(1)))
            for found in _PATH_PARAMETER.finditer(self.path)
        }


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


@dataclass
class Deployment:
    """Physical ids keyed by logical id, and accessors for what the workflow and its tests need."""

    region: str
    account_id: str
    stack_name: str
    endpoint_url: str
    resources: dict[str, DeployedResource] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    bridges: list[BridgeTarget] = field(default_factory=list)
    routes: list[HttpRoute] = field(default_factory=list)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The template's outputs that resolve in the sandbox, by output name.
    outputs: dict[str, str] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id].physical_id

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        return [resource for resource in self.resources.values() if resource.type == resource_type]

    def _single(self, types: tuple[str, ...], logical_id: str | None) -> DeployedResource:
        if logical_id is not None:
            return self.resources[logical_id]
        found = [resource for resource in self.resources.values() if resource.type in types]
        if len(found) != 1:
            names = sorted(resource.logical_id for resource in found)
            raise LookupError(f"expected exactly one {'/'.join(types)}, found {names}; pass a logical id")
        return found[0]

    def table_name(self, logical_id: str | None = None) -> str:
        return self._single(("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"), logical_id).physical_id

    def state_machine_arn(self, logical_id: str | None = None) -> str:
        return self._single(("AWS::StepFunctions::StateMachine",), logical_id).physical_id

    def topic_arn(self, logical_id: str | None = None) -> str:
        return self._single(("AWS::SNS::Topic",), logical_id).physical_id

    def queue_url(self, logical_id: str | None = None) -> str:
        return self._single(("AWS::SQS::Queue",), logical_id).physical_id

    def secret_arn(self, logical_id: str | None = None) -> str:
        return self._single(("AWS::SecretsManager::Secret",), logical_id).physical_id

    def secret_value(self, logical_id: str | None = None) -> dict[str, Any]:
        return self.secrets[self._single(("AWS::SecretsManager::Secret",), logical_id).logical_id]

    def function(self, handler: str) -> FunctionInfo:
        """The deployed function with handler string ``handler`` (``tourniquet.intake.handler.normalize``)."""
        found = [info for info in self.functions.values() if info.handler == handler]
        if len(found) != 1:
            raise LookupError(f"expected exactly one function with handler {handler!r}, found {len(found)}")
        return found[0]

    def function_name(self, handler: str) -> str:
        return self.function(handler).name

    @property
    def function_names_by_handler(self) -> dict[str, str]:
        return {info.handler: info.name for info in self.functions.values()}


# Deployment


def sandbox_slack_secret() -> dict[str, str]:
    """Credentials for the fake Slack: a bot token and a signing secret, fresh for every sandbox."""
    return {"bot_token": f"xoxb-sandbox-{secrets.token_hex(12)}", "signing_secret": secrets.token_hex(16)}


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Never run: the invoke hook imports the handler from the installed package.
        archive.writestr("README.txt", "Tourniquet sandbox function; the handler runs in process.\n")
    return buffer.getvalue()


_TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")
_SKIP_REASONS = {
    "AWS::IAM::Policy": "IAM policies are not enforced by the sandbox",
    "AWS::Lambda::Permission": "resource policies are not enforced by the sandbox",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced by the sandbox",
    "AWS::SNS::TopicPolicy": "resource policies are not enforced by the sandbox",
    "AWS::CDK::Metadata": "CDK metadata",
}


def deploy(
    template: Mapping[str, Any],
    *,
    endpoint_url: str,
    region: str,
    stack_name: str = "Tourniquet",
    function_environment: Mapping[str, str] | None = None,
    default_secret: Mapping[str, Any] | None = None,
    secret_values: Mapping[str, Mapping[str, Any]] | None = None,
    parameters: Mapping[str, str] | None = None,
    session: boto3.session.Session | None = None,
    clients: Callable[[str], Any] | None = None,
    account_id: str | None = None,
) -> Deployment:
    """Create the template's resources in the moto server at ``endpoint_url``.

    ``function_environment`` is laid over every function's resolved environment (the sandbox puts
    ``AWS_ENDPOINT_URL`` and ``SLACK_API_URL`` there). Each secret gets ``secret_values[logical_id]``, else
    ``default_secret``, else fresh Slack-style credentials. Passing the caller's ``session`` saves
    loading botocore's models again. ``clients`` (a service name -> a boto3 client) deploys with clients
    the caller made, acting in the account ``account_id`` (another account of the organization, say),
    instead of clients of ``session``.
    """
    return _Deployer(
        template,
        endpoint_url=endpoint_url,
        region=region,
        stack_name=stack_name,
        function_environment=function_environment or {},
        default_secret=default_secret,
        secret_values=secret_values or {},
        parameters=parameters,
        session=session or boto3.session.Session(region_name=region),
        clients=clients,
        account_id=account_id,
    ).run()


def _bounded(name: str, limit: int) -> str:
    """``name``, or when too long its head and a hash of the whole, so that cut names stay distinct."""
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class _Deployer:
    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        endpoint_url: str,
        region: str,
        stack_name: str,
        function_environment: Mapping[str, str],
        default_secret: Mapping[str, Any] | None,
        secret_values: Mapping[str, Mapping[str, Any]],
        parameters: Mapping[str, str] | None,
        session: boto3.session.Session,
        clients: Callable[[str], Any] | None,
        account_id: str | None,
    ) -> None:
        self.template = template
        self.resources: Mapping[str, Mapping[str, Any]] = template.get("Resources", {})
        self.session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self._client_factory = clients
        self._clients: dict[str, Any] = {}
        if account_id is None:
            account_id = self.client("sts").get_caller_identity().get("Account", DEFAULT_ACCOUNT_ID)
        self.resolver = Resolver(
            template, region=region, account_id=account_id, stack_name=stack_name, parameters=parameters
        )
        self.deployment = Deployment(
            region=region, account_id=account_id, stack_name=stack_name, endpoint_url=endpoint_url
        )
        self.function_environment = dict(function_environment)
        self.default_secret = default_secret
        self.secret_values = secret_values
        self.generated_secrets: dict[str, dict[str, Any] | str] = {}
        self._creators: dict[str, Callable[[str, dict[str, Any]], Binding]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SNS::Topic": self._topic,
            "AWS::SQS::Queue": self._queue,
            "AWS::IAM::Role": self._role,
            "AWS::IAM::ManagedPolicy": self._managed_policy,
            "AWS::Lambda::Function": self._function,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Rule": self._rule,
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if self._client_factory is not None:
                self._clients[service] = self._client_factory(service)
            else:
                self._clients[service] = self.session.client(  # type: ignore[call-overload]
                    service, region_name=self.region, endpoint_url=self.endpoint_url
                )
        return self._clients[service]

    def run(self) -> Deployment:
        for logical_id in deployment_order(self.resources):
            resource = self.resources[logical_id]
            kind = str(resource.get("Type", ""))
            condition = resource.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                self._skip(logical_id, kind, f"condition {condition} is false")
                continue
            creator = self._creators.get(kind)
            if creator is None:
                self._skip(logical_id, kind, _SKIP_REASONS.get(kind, "not emulated by the sandbox"))
                continue
            try:
                binding = creator(logical_id, dict(resource.get("Properties", {})))
            except TemplateError as exc:
                raise TemplateError(f"{logical_id} ({kind}): {exc}") from exc
            self.resolver.bind(logical_id, binding)
            self.deployment.resources[logical_id] = DeployedResource(
                logical_id, kind, str(binding.ref), dict(binding.attributes)
            )
        self.deployment.routes = self._routes()
        self.deployment.outputs = self._outputs()
        return self.deployment

    def _outputs(self) -> dict[str, str]:
        outputs = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            try:
                value = self.resolver.resolve(output.get("Value"))
            except TemplateError:
                continue
            if isinstance(value, str):
                outputs[name] = value
        return outputs

    def _skip(self, logical_id: str, kind: str, reason: str) -> None:
        self.deployment.skipped[logical_id] = f"{kind}: {reason}"
        resolver = self.resolver
        self.resolver.bind(
            logical_id,
            Binding(
                ref=f"{resolver.stack_name}-{logical_id}",
                placeholder_attribute=lambda name: (
                    f"arn:{resolver.partition}:sandbox:{resolver.region}:{resolver.account_id}:{logical_id}/{name}"
                ),
            ),
        )

    def _physical_name(self, logical_id: str, limit: int) -> str:
        return _bounded(f"{self.resolver.stack_name}-{logical_id}", limit)

    def _properties(self, properties: dict[str, Any], *names: str) -> dict[str, Any]:
        """Resolve only the named properties, so unrelated ones never need to be resolvable."""
        resolved = {}
        for name in names:
            if name in properties:
                value = self.resolver.resolve(properties[name])
                if value is not None and value is not NO_VALUE:
                    resolved[name] = value
        return resolved

    def _table(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(
            properties,
            "TableName",
            "KeySchema",
            "AttributeDefinitions",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "StreamSpecification",
            "TimeToLiveSpecification",
        )
        name = props.get("TableName") or self._physical_name(logical_id, 255)
        provisioned = props.get("BillingMode", "PROVISIONED") != "PAY_PER_REQUEST"
        throughput = props.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        if provisioned:
            request["ProvisionedThroughput"] = throughput
        else:
            request["BillingMode"] = "PAY_PER_REQUEST"
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index.get("Projection", {"ProjectionType": "ALL"}),
                    **(
                        {"ProvisionedThroughput": index.get("ProvisionedThroughput", throughput)}
                        if provisioned
                        else {}
                    ),
                }
                for index in props["GlobalSecondaryIndexes"]
            ]
        if props.get("LocalSecondaryIndexes"):
            request["LocalSecondaryIndexes"] = [
                {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"],
                }
                for index in props["LocalSecondaryIndexes"]
            ]
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return Binding(ref=name, attributes=attributes)

    def _secret(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(properties, "Name", "Description", "GenerateSecretString")
        value = self._secret_value(logical_id, props.get("GenerateSecretString") or {})
        response = self.client("secretsmanager").create_secret(
            Name=props.get("Name") or self._physical_name(logical_id, 512),
            Description=props.get("Description", "Tourniquet sandbox secret"),
            SecretString=value if isinstance(value, str) else json.dumps(value),
        )
        self.generated_secrets[response["ARN"]] = value
        if isinstance(value, dict):
            self.deployment.secrets[logical_id] = value
        return Binding(ref=response["ARN"], attributes={"Id": response["ARN"]})

    def _secret_value(self, logical_id: str, generate: dict[str, Any]) -> dict[str, Any] | str:
        """What CloudFormation would generate; a Slack-shaped secret gets the fake Slack's credentials."""
        if logical_id in self.secret_values:
            return dict(self.secret_values[logical_id])
        template = generate.get("SecretStringTemplate")
        if template is None:
            return secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))
        # A dynamic reference to a secret made earlier in this deployment reads its generated value.
        for arn, earlier in self.generated_secrets.items():
            if isinstance(earlier, str):
                template = template.replace(f"{{{{resolve:secretsmanager:{arn}:SecretString:::}}}}", earlier)
        value: dict[str, Any] = json.loads(template)
        if "bot_token" in value:
            return dict(self.default_secret if self.default_secret is not None else sandbox_slack_secret())
        value[str(generate.get("GenerateStringKey", "password"))] = secrets.token_urlsafe(32)
        return value

    def _topic(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(properties, "TopicName", "FifoTopic", "ContentBasedDeduplication")
        fifo = bool(props.get("FifoTopic"))
        name = props.get("TopicName") or self._physical_name(logical_id, 251 if fifo else 256)
        attributes: dict[str, str] = {}
        if fifo:
            name = name if name.endswith(".fifo") else f"{name}.fifo"
            attributes["FifoTopic"] = "true"
            if props.get("ContentBasedDeduplication"):
                attributes["ContentBasedDeduplication"] = "true"
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return Binding(ref=arn, attributes={"TopicArn": arn, "TopicName": name})

    def _queue(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(properties, "QueueName", "FifoQueue", "VisibilityTimeout")
        fifo = bool(props.get("FifoQueue"))
        name = props.get("QueueName") or self._physical_name(logical_id, 75 if fifo else 80)
        attributes: dict[str, str] = {}
        if fifo:
            name = name if name.endswith(".fifo") else f"{name}.fifo"
            attributes["FifoQueue"] = "true"
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        return self._create_queue(name, attributes)

    def _create_queue(self, name: str, attributes: Mapping[str, str] | None = None) -> Binding:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=dict(attributes or {}))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Binding(ref=url, attributes={"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _role(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(properties, "RoleName", "AssumeRolePolicyDocument", "Path", "Description")
        name = props.get("RoleName") or self._physical_name(logical_id, 64)
        role = self.client("iam").create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {})),
            Path=props.get("Path", "/"),
            Description=props.get("Description", ""),
        )["Role"]
        return Binding(ref=name, attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _managed_policy(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        """Created, though the sandbox does not enforce it: containment attaches the member stack's deny-all
        policy by its ARN, which must exist."""
        props = self._properties(properties, "ManagedPolicyName", "Path", "PolicyDocument", "Description")
        policy = self.client("iam").create_policy(
            PolicyName=props.get("ManagedPolicyName") or self._physical_name(logical_id, 128),
            Path=props.get("Path", "/"),
            PolicyDocument=json.dumps(props["PolicyDocument"]),
            Description=props.get("Description", ""),
        )["Policy"]
        return Binding(ref=policy["Arn"], attributes={"PolicyArn": policy["Arn"]})

    def _function(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        if properties.get("PackageType") == "Image":
            raise TemplateError("container image functions are not supported by the sandbox")
        props = self._properties(
            properties, "FunctionName", "Handler", "Runtime", "Role", "Timeout", "MemorySize", "Description"
        )
        variables = properties.get("Environment", {}).get("Variables", {})
        environment = {
            key: self.resolver.resolve_string(value, f"environment variable {key}")
            for key, value in self.resolver.resolve(variables).items()
        }
        environment.update(self.function_environment)
        name = props.get("FunctionName") or self._physical_name(logical_id, 64)
        handler = str(props["Handler"])
        arn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.12"),
            Role=props["Role"],
            Handler=handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Description=props.get("Description", ""),
            Environment={"Variables": environment},
        )["FunctionArn"]
        self.deployment.functions[logical_id] = FunctionInfo(logical_id, name, arn, handler, environment)
        return Binding(ref=name, attributes={"Arn": arn})

    def _state_machine(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        if "DefinitionS3Location" in properties:
            raise TemplateError("DefinitionS3Location is not supported; load the definition inline")
        if "DefinitionString" in properties:
            definition = self.resolver.resolve_string(properties["DefinitionString"], "DefinitionString")
        elif "Definition" in properties:
            definition = json.dumps(self.resolver.resolve(properties["Definition"]))
        else:
            raise TemplateError("state machine has no definition")
        for key, value in self.resolver.resolve(properties.get("DefinitionSubstitutions", {})).items():
            text = value if isinstance(value, str) else json.dumps(value)
            definition = definition.replace("${" + key + "}", text)
        leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
        if leftover:
            raise TemplateError(f"definition has unsubstituted placeholders {leftover}")
        try:
            json.loads(definition)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"definition is not valid JSON: {exc}") from exc
        props = self._properties(properties, "StateMachineName", "StateMachineType", "RoleArn")
        name = props.get("StateMachineName") or self._physical_name(logical_id, 80)
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return Binding(ref=arn, attributes={"Arn": arn, "Name": name, "StateMachineName": name})

    def _event_bus(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(properties, "Name")
        name = props.get("Name") or self._physical_name(logical_id, 256)
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        return Binding(ref=name, attributes={"Arn": arn, "Name": name})

    def _rule(self, logical_id: str, properties: dict[str, Any]) -> Binding:
        props = self._properties(
            properties, "Name", "EventPattern", "ScheduleExpression", "State", "EventBusName", "Description"
        )
        name = props.get("Name") or self._physical_name(logical_id, 64)
        bus = props.get("EventBusName", "default")
        trigger: dict[str, str] = {}
        if "EventPattern" in props:
            pattern = props["EventPattern"]
            trigger["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if "ScheduleExpression" in props:
            trigger["ScheduleExpression"] = str(props["ScheduleExpression"])
        events = self.client("events")
        arn = events.put_rule(
            Name=name,
            State=props.get("State", "ENABLED"),
            EventBusName=bus,
            Description=props.get("Description", ""),
            **trigger,
        )["RuleArn"]
        machines = {
            resource.physical_id for resource in self.deployment.of_type("AWS::StepFunctions::StateMachine")
        }
        targets = []
        for target in properties.get("Targets", []):
            target_id = self.resolver.resolve_string(target["Id"], "target Id")
            target_arn = self.resolver.resolve_string(target["Arn"], "target Arn")
            if target_arn not in machines or "EventPattern" not in trigger:
                why = "only state machine targets" if target_arn not in machines else "no schedule fires here"
                self.deployment.skipped[f"{logical_id}/{target_id}"] = (
                    f"AWS::Events::Rule target {target_arn}: not delivered ({why})"
                )
                continue
            queue = self._create_queue(
                _bounded(re.sub(r"[^A-Za-z0-9_-]", "-", f"{name}-{target_id}-bridge"), 80)
            )
            delivery: dict[str, Any] = {"Id": target_id, "Arn": queue.attributes["Arn"]}
            if "InputTransformer" in target:
                # moto applies input transformers to SQS targets itself.
                delivery["InputTransformer"] = self.resolver.resolve(target["InputTransformer"])
            targets.append(delivery)
            self.deployment.bridges.append(
                BridgeTarget(
                    rule_logical_id=logical_id,
                    rule_name=name,
                    target_id=target_id,
                    queue_url=queue.ref,
                    state_machine_arn=target_arn,
                    input=self.resolver.resolve(target["Input"]) if "Input" in target else None,
                    input_path=self.resolver.resolve(target["InputPath"]) if "InputPath" in target else None,
                )
            )
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return Binding(ref=name, attributes={"Arn": arn})

    def _routes(self) -> list[HttpRoute]:
        integrations = {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == "AWS::ApiGatewayV2::Integration"
        }
        functions = list(self.deployment.functions.values())
        routes = []
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::ApiGatewayV2::Route":
                continue
            condition = resource.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                continue
            properties = resource.get("Properties", {})
            target = json.dumps(properties.get("Target", ""))
            linked = [name for name in integrations if f'"{name}"' in target]
            integration = integrations[linked[0]].get("Properties", {}) if len(linked) == 1 else {}
            uri = self.resolver.resolve_string(integration.get("IntegrationUri", ""), "IntegrationUri")
            invoked = [info for info in functions if uri and (info.arn in uri or uri == info.name)]
            if len(invoked) != 1:
                self.deployment.skipped[logical_id] = (
                    "AWS::ApiGatewayV2::Route: its integration invokes no function deployed here"
                )
                continue
            self.deployment.skipped[logical_id] = (
                f"AWS::ApiGatewayV2::Route: served by the local HTTP endpoint ({invoked[0].name})"
            )
            routes.append(
                HttpRoute(
                    route_key=self.resolver.resolve_string(properties["RouteKey"], "RouteKey"),
                    function_name=invoked[0].name,
                    payload_version=str(integration.get("PayloadFormatVersion", "2.0")),
                )
            )
        return routes
