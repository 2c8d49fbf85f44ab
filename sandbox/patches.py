"""Patches that let moto run the real workflow in this process.

* Lambda: moto runs function code only in Docker. :func:`install_lambda_hook` replaces
  ``LambdaFunction._invoke_lambda`` with :meth:`LambdaRuntime.invoke`: it imports the handler named by the
  function's handler string, runs it with that function's environment and, as Lambda does, with credentials
  of the function's own execution role, and answers in Lambda's shape (an error payload carries
  ``errorType``, the exception's class name, so ``Retry``/``Catch`` match it).
* Time: Step Functions retries sleep for real (``IntervalSeconds``) and a ``waitForTaskToken`` task waits its
  whole ``TimeoutSeconds``. Both are scaled here; the ASL itself is never edited.
* Requests: the process's own clients (the deployed functions, Step Functions' tasks, the sandbox itself)
  sent every call over HTTP to moto's server on 127.0.0.1; :func:`install_in_process_requests` has moto's
  application answer them in the calling thread, as its server would.
* Requests: moto's server lists its own package directory on every request; :func:`install_module_list_cache`
  reads it once.
* Requests: moto lists a response class's methods with ``inspect.getmembers`` on every request (a tenth of
  a handler test's CPU); :func:`install_action_names_cache` lists each class once.
* Step Functions: moto parses a state machine's definition with ANTLR for every execution (about 1 s of CPU
  for the incident workflow); :func:`install_definition_cache` parses each definition once per process, and
  every execution evaluates that program. moto also parses a JSONPath each time a state reads one;
  :func:`install_json_path_cache` parses each once.
* EC2: moto reports an attached interface's security groups as its own groups plus the groups the instance
  was launched with, so replacing an interface's groups never shows. :func:`install_eni_groups_fix` reports
  the interface's own groups, as EC2 does.
* DynamoDB: moto copies every table a transaction names, whole, once per item, writes each item, checking its
  condition again, and puts the copies back when one fails: a transaction costs time in the size of the table
  (a storm of 10,000 folded alerts took hours and gigabytes) and each condition twice.
  :func:`install_transaction_fix` checks every condition once and writes only when all hold, as DynamoDB does.
  moto also answers concurrent requests without a lock, so one request can copy an item while another
  changes it; :func:`install_atomic_dynamodb_requests` answers one request at a time, as DynamoDB applies each
  atomically. moto also writes every answer by walking it against the service's model, every attribute value
  of every item (40 ms for a query of an incident's timeline); DynamoDB's items are already in their wire
  format, so :func:`install_direct_dynamodb_items` writes the answers that carry items as they are.
* boto3: every session reads the service models and the endpoints (megabytes of JSON) through a loader of its
  own, and the sandbox, its deployer, moto and the tests each make sessions: a sandbox's start parsed them
  again. :func:`install_shared_service_models` gives every session of the process one loader.
* SNS: moto signs a subscription's messages with a 2048-bit RSA key of its own, made at its first message
  (60 ms of CPU, most of a handler test that pages). SNS signs with one certificate per region;
  :func:`install_sns_signing_key` makes one key for the process.
"""

from __future__ import annotations

import base64
import functools
import importlib
import inspect
import json
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import botocore.loaders
import botocore.session
import botocore.useragent
import jsonpath_ng.ext.parser
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import Endpoint
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import backends
from moto.awslambda.models import LambdaFunction
from moto.core import responses as moto_responses
from moto.core import utils as moto_utils
from moto.core.botocore_stubber import MockRawResponse
from moto.core.responses import ActionContext, ActionResult
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sns.models import Subscription
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition
from werkzeug.test import EnvironBuilder, run_wsgi_app

# Functions share one process and os.environ is process-wide: one invocation at a time.
_INVOKE_LOCK = threading.Lock()
# A function's role session lasts an hour; the runtime takes a fresh one this long before it ends.
_ROLE_SESSION_SECONDS = 3600
_ROLE_RENEW_BEFORE_SECONDS = 600
_ROLE_ACCOUNT = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/")
# DynamoDB's transactions: at most this many items, of these kinds.
_TRANSACTION_ITEMS = 100
_TRANSACTION_KINDS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


@dataclass(frozen=True)
class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


_MISSING = object()


class Patcher:
    """Sets attributes and puts every one back (or removes it), in reverse order, on :meth:`restore`."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, target: Any, name: str, value: Any) -> None:
        self._saved.append((target, name, target.__dict__.get(name, _MISSING)))
        setattr(target, name, value)

    def restore(self) -> None:
        while self._saved:
            target, name, original = self._saved.pop()
            if original is _MISSING:
                delattr(target, name)
            else:
                setattr(target, name, original)


def _load_handler(handler: str) -> Callable[[Any, LambdaContext], Any]:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"{handler} is not callable")
    return function  # type: ignore[no-any-return]


@contextmanager
def _function_environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _error_payload(error_type: str, message: str, request_id: str, exc: BaseException | None) -> str:
    payload: dict[str, Any] = {"errorType": error_type, "errorMessage": message, "requestId": request_id}
    if exc is not None:
        payload["stackTrace"] = traceback.format_tb(exc.__traceback__)
    return json.dumps(payload)


def _run_handler(
    handler_name: str, event: Any, context: LambdaContext, environment: dict[str, str]
) -> tuple[str, bool]:
    with _INVOKE_LOCK, _function_environment(environment):
        try:
            handler = _load_handler(handler_name)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound"
            return _error_payload(kind, f"{handler_name}: {exc}", context.aws_request_id, None), True
        try:
            result = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - the runtime turns any exception into an error payload
            return _error_payload(type(exc).__name__, str(exc), context.aws_request_id, exc), True
        try:
            return json.dumps(result), False
        except (TypeError, ValueError) as exc:
            return _error_payload("Runtime.MarshalError", str(exc), context.aws_request_id, None), True


class LambdaRuntime:
    """Runs handlers on one long-lived thread, like a warm Lambda container.

    moto serves every request on a new thread; running handlers there would defeat anything a handler keeps
    per thread (its boto3 clients) and make every invocation a cold one. Invocations are serialized anyway,
    because the functions share this process's environment, so a handler must not wait on another
    function's synchronous invocation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        # handler -> [error type, invocations left to fail]
        self._faults: dict[str, list[Any]] = {}
        # execution role ARN -> (renew after, the environment variables of its session's credentials)
        self._sessions: dict[str, tuple[float, dict[str, str]]] = {}

    @staticmethod
    def settle() -> None:
        """Return once the invocation running now (if any) has returned."""
        with _INVOKE_LOCK:
            pass

    def role_credentials(self, function: LambdaFunction) -> dict[str, str]:
        """The credentials Lambda gives ``function``: a session of its execution role (named after the
        function), as ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``.

        The Lambda service assumes the role: the session is made in moto's STS directly, not by a request a
        trust policy would judge.
        """
        role_arn = str(function.role)
        now = time.monotonic()
        with self._lock:
            known = self._sessions.get(role_arn)
        if known is not None and known[0] > now:
            return known[1]
        region = str(function.region)
        matched = _ROLE_ACCOUNT.match(role_arn)
        account = matched.group(1) if matched else str(function.account_id)
        session = sts_backends[account][get_partition(region)].assume_role(
            region_name=region,
            role_session_name=str(function.function_name)[:64],
            role_arn=role_arn,
            policy="",
            duration=_ROLE_SESSION_SECONDS,
            external_id="",
        )
        credentials = {
            "AWS_ACCESS_KEY_ID": str(session.access_key_id),
            "AWS_SECRET_ACCESS_KEY": str(session.secret_access_key),
            "AWS_SESSION_TOKEN": str(session.session_token),
        }
        with self._lock:
            self._sessions[role_arn] = (now + _ROLE_SESSION_SECONDS - _ROLE_RENEW_BEFORE_SECONDS, credentials)
        return credentials

    def fail_after_running(self, handler: str, error: str, times: int = 1) -> None:
        """The next ``times`` invocations of ``handler`` run to the end, then answer ``error``: what a
        Lambda service fault on the way back looks like, after the function's writes have landed."""
        with self._lock:
            self._faults[handler] = [error, times]

    def _injected_fault(self, handler: str) -> str | None:
        with self._lock:
            fault = self._faults.get(handler)
            if fault is None:
                return None
            fault[1] -= 1
            if fault[1] <= 0:
                del self._faults[handler]
            return str(fault[0])

    def _submit(self, *arguments: Any) -> tuple[str, bool]:
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-runtime")
            future = self._worker.submit(_run_handler, *arguments)
        return future.result()

    def shutdown(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

    def invoke(self, function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        """Run ``function``'s handler; returns ``(payload, errored, logs)`` like moto's Docker invoker."""
        if isinstance(event, str | bytes):
            event = json.loads(event) if event else {}
        elif event is None:
            event = {}
        request_id = str(uuid.uuid4())
        name = str(function.function_name)
        started = time.monotonic()
        context = LambdaContext(
            function_name=name,
            function_version=str(function.version),
            invoked_function_arn=str(function.function_arn),
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{function.version}]{request_id.replace('-', '')}",
            deadline=started + float(function.timeout),
        )
        # What the Lambda runtime sets, then the function's own configuration.
        environment = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_REGION": str(function.region),
            "AWS_DEFAULT_REGION": str(function.region),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "_HANDLER": str(function.handler),
            **{key: str(value) for key, value in (function.environment_vars or {}).items()},
            # Reserved: a function's configuration cannot replace its role's credentials.
            **self.role_credentials(function),
        }
        payload, errored = self._submit(str(function.handler), event, context, environment)
        fault = None if errored else self._injected_fault(str(function.handler))
        if fault is not None:
            payload, errored = _error_payload(fault, "injected by the sandbox", request_id, None), True
        duration = (time.monotonic() - started) * 1000
        logs = (
            f"START RequestId: {request_id} Version: {function.version}\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms"
        )
        return payload, errored, logs


def install_lambda_hook(patcher: Patcher, runtime: LambdaRuntime) -> None:
    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return runtime.invoke(self, event)

    patcher.set(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    # moto's Step Functions interpreter makes a new boto3 client for every Lambda task it runs; one per
    # region and service serves them all (botocore clients are thread-safe).
    made = boto_client.boto_client_for
    lock = threading.Lock()

    @functools.cache
    def _made_once(region: str, service: str) -> Any:
        with lock:
            return made(region, service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return _made_once(region, service)

    patcher.set(lambda_eval_utils, "boto_client_for", boto_client_for)


@dataclass
class TimeScale:
    """How fast sandbox time runs; read at every sleep, so it can be changed while the sandbox runs."""

    retry: float = 0.001
    callback_timeout: float = 1.0
    # Wait states: a storm's 30 s settle takes 3 s, still long enough for a group's alerts to fold in.
    wait: float = 0.1


class _ScaledTime(ModuleType):
    """Stands in for the ``time`` module where moto sleeps between retries."""

    def __init__(self, scale: TimeScale) -> None:
        super().__init__("time")
        self._scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self._scale.retry))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def install_time_scaling(patcher: Patcher, scale: TimeScale) -> None:
    """Scale retry intervals, ``waitForTaskToken`` timeouts (3600 s at 0.001 expires in 3.6 s) and Wait
    states."""
    patcher.set(retrier_decl, "time", _ScaledTime(scale))

    def _wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        # Interrupted early only when the execution stops, as moto's own wait.
        env.program_state_event.wait(max(0.0, wait_seconds * scale.wait))

    patcher.set(WaitFunction, "_wait_interval", _wait_interval)
    original = state_task_service_callback.StateTaskServiceCallback._wait_for_task_token_timeout

    def _wait_for_task_token_timeout(
        self: state_task_service_callback.StateTaskServiceCallback,
        timeout_seconds: int,
        callback_endpoint: Any,
    ) -> Any:
        return original(self, timeout_seconds * scale.callback_timeout, callback_endpoint)  # type: ignore[arg-type]

    patcher.set(
        state_task_service_callback.StateTaskServiceCallback,
        "_wait_for_task_token_timeout",
        _wait_for_task_token_timeout,
    )


def install_eni_groups_fix(patcher: Patcher) -> None:
    """An interface's groups are its own (``ModifyNetworkInterfaceAttribute`` replaces them)."""

    def group_set(self: NetworkInterface) -> Any:
        return self._group_set

    patcher.set(NetworkInterface, "group_set", property(group_set))


_HEALTH_TARGET = "AWSHealth_20160804."


def _health_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """AWS Health as an account with a support plan and nothing to report: every list is empty."""
    operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).removeprefix(_HEALTH_TARGET)
    empty: dict[str, dict[str, Any]] = {
        "DescribeEvents": {"events": []},
        "DescribeAffectedEntities": {"entities": []},
        "DescribeEventDetails": {"successfulSet": [], "failedSet": []},
    }
    body = json.dumps(empty.get(operation, {})).encode()
    start_response(
        "200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _body(request: AWSPreparedRequest) -> bytes | str:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes | str):
        return body
    if isinstance(body, bytearray):
        return bytes(body)
    return body.read()


def _answer_in_process(app: DomainDispatcherApplication, request: AWSPreparedRequest) -> AWSResponse:
    """``request`` answered by moto's WSGI application, called here as its HTTP server would call it."""
    url = urlsplit(request.url)
    headers = [
        (name, value.decode("latin-1") if isinstance(value, bytes) else value)
        for name, value in request.headers.items()
    ]
    environ = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path,
        query_string=url.query,
        headers=headers,
        data=_body(request),
    ).get_environ()
    chunks, status, answer_headers = run_wsgi_app(app, environ, buffered=True)
    payload = b"".join(chunks)
    return AWSResponse(
        request.url,
        int(status.split(" ", 1)[0]),
        HTTPHeaders.from_pairs(list(answer_headers.items())),
        MockRawResponse(payload),
    )


def install_in_process_requests(patcher: Patcher, endpoint_url: str) -> None:
    """A request this process's own clients send to the embedded AWS is answered by moto's application in the
    calling thread, as its server would answer it: the same dispatch and the same patches, without the
    socket, the HTTP on both ends and a server thread per connection (a fifth of a workflow's CPU). Other
    processes (the CLI, a browser) still reach the server."""
    app = DomainDispatcherApplication(create_backend_app)
    original: Callable[[Endpoint, AWSPreparedRequest], AWSResponse] = Endpoint._send  # type: ignore[attr-defined]
    prefix = endpoint_url.rstrip("/") + "/"

    def _send(self: Endpoint, request: AWSPreparedRequest) -> AWSResponse:
        if not request.url.startswith(prefix):
            return original(self, request)
        return _answer_in_process(app, request)

    patcher.set(Endpoint, "_send", _send)


def install_health(patcher: Patcher) -> None:
    """moto has no AWS Health; the sandbox answers it, so the diagnostic runs as it would in an account."""
    original = DomainDispatcherApplication.get_application

    def get_application(self: DomainDispatcherApplication, environ: dict[str, Any]) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(_HEALTH_TARGET):
            return _health_app
        return original(self, environ)

    patcher.set(DomainDispatcherApplication, "get_application", get_application)


def install_module_list_cache(patcher: Patcher) -> None:
    """moto's server lists its package directory on every request to find the service; the list never
    changes while the process runs, so it is read once."""
    modules = tuple(backends.list_of_moto_modules())
    patcher.set(backends, "list_of_moto_modules", lambda: modules)


def install_action_names_cache(patcher: Patcher) -> None:
    """moto finds a request's action among its response class's functions, listed afresh on every request.
    The list is kept per class, and made again when a class in its lineage gains or loses an attribute (as a
    patch that adds an action does)."""
    names: dict[tuple[tuple[type, int], ...], list[str]] = {}

    def method_names_from_class(clazz: type) -> list[str]:
        lineage = tuple((klass, len(klass.__dict__)) for klass in clazz.__mro__)
        if lineage not in names:
            names[lineage] = moto_utils.method_names_from_class(clazz)
        return names[lineage]

    patcher.set(moto_responses, "method_names_from_class", method_names_from_class)


@functools.cache
def _service_models(data_path: str | None = None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(data_path)


def install_shared_service_models(patcher: Patcher) -> None:
    """Every botocore session made from now on reads the models through one loader per data path, which keeps
    what it parsed (the models are only read)."""
    patcher.set(botocore.session, "create_loader", _service_models)


def install_queue_wakeup(patcher: Patcher, queue_names: frozenset[str], wake: Callable[[], None]) -> None:
    """A message sent to one of ``queue_names`` (as a rule's target sends it) calls ``wake`` once it is on
    the queue."""
    send_message = SQSBackend.send_message

    def sent(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        message = send_message(self, queue_name, *args, **kwargs)
        if queue_name in queue_names:
            wake()
        return message

    patcher.set(SQSBackend, "send_message", sent)


def install_user_agent_cache(patcher: Patcher) -> None:
    """botocore cleans each part of the User-Agent header character by character, twice a request: a tenth
    of a call's own cost. The parts repeat (SDK, language, platform, features), so each is cleaned once."""
    clean = functools.lru_cache(maxsize=1024)(botocore.useragent.sanitize_user_agent_string_component)
    patcher.set(botocore.useragent, "sanitize_user_agent_string_component", clean)


@functools.cache
def _sns_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def install_sns_signing_key(patcher: Patcher) -> None:
    """Every subscription signs its messages with one key, made once for the process."""
    patcher.set(Subscription, "private_key", lambda self: _sns_signing_key())


def _components(root: Component) -> Iterator[Component]:
    """Every component of a parsed program: its states, their fields and so on down."""
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, Component):
            yield item
            stack.extend(vars(item).values())


@functools.lru_cache(maxsize=32)
def _parsed(definition: str) -> Any:
    program, tree = _PARSE(definition)
    # A component names its per-execution values (a retrier's attempt count) in the execution's own heap by a
    # key it draws on first use; drawn here, executions that start at once cannot draw two.
    for component in _components(program):
        if isinstance(component, EvalComponent):
            _ = component.heap_key
    return program, tree


_PARSE = AmazonStateLanguageParser.parse


def install_definition_cache(patcher: Patcher) -> None:
    """Parse each definition once per process and let every execution evaluate the same program: a parsed
    program holds no state of an execution (that lives in the execution's environment), so sharing it is
    safe, and copying it cost 18 ms per execution."""
    patcher.set(AmazonStateLanguageParser, "parse", staticmethod(_parsed))


@functools.lru_cache(maxsize=1024)
def _json_path(path: str) -> Any:
    return _PARSE_JSON_PATH(path)


_PARSE_JSON_PATH = jsonpath_ng.ext.parser.parse


def install_json_path_cache(patcher: Patcher) -> None:
    """moto parses a state's JSONPath (``$.incident.id``) with a PLY grammar each time it reads one, about
    0.3 ms each; a parsed path only finds (it keeps nothing), so each is parsed once per process."""
    patcher.set(json_path, "parse", _json_path)


# One write of a transaction: its kind, its request, the item's key and the item as it was (None: absent).
_Write = tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None]
_Reason = tuple[str | None, str | None, dict[str, Any] | None]


def _check(
    backend: DynamoDBBackend, item: dict[str, Any], targets: set[tuple[str, str]]
) -> tuple[_Reason, _Write]:
    """One transaction item's condition, checked against the item as it is; and the write it would make."""
    if len(item) > 1:
        raise TransactWriteSingleOpException
    kind, op = next(iter(item.items()))
    if kind not in _TRANSACTION_KINDS:
        raise ValueError("Unsupported transaction operation")
    table = backend.get_table(op["TableName"])
    key = op.get("Key") or {
        name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name
    }
    target = (op["TableName"], str(dict(sorted(key.items()))))
    if target in targets:
        raise MultipleTransactionsException()
    targets.add(target)
    current = backend.get_item(op["TableName"], key)
    # to_json builds new containers all the way down: the item as it is now, to answer or to undo with.
    before = current.to_json()["Attributes"] if current is not None else None
    condition = op.get("ConditionExpression")
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if condition is not None and not get_filter_expression(condition, names, values).expr(current):
        old = before if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
        return ("ConditionalCheckFailed", "The conditional request failed", old), (kind, op, key, before)
    return (None, None, None), (kind, op, key, before)


def _write(backend: DynamoDBBackend, kind: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    if kind == "Put":
        backend.put_item(op["TableName"], op["Item"])
    elif kind == "Update":
        backend.update_item(
            op["TableName"],
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames") or {},
            expression_attribute_values=op.get("ExpressionAttributeValues") or {},
        )
    else:
        backend.delete_item(op["TableName"], key)


def install_atomic_dynamodb_requests(patcher: Patcher) -> None:
    """Each DynamoDB request is answered whole before the next starts: concurrent writers race on their
    conditions, as in DynamoDB, never on moto's half-changed items."""
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic_call_action(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    patcher.set(DynamoHandler, "call_action", atomic_call_action)


class _QueriedTable:
    """A table as moto's ``Table.query`` sees it: the table itself, but for the items it may return."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table = table
        self._items = items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        return self._items


def _partition(table: Table, hash_key: DynamoType | None) -> list[Item]:
    # get, not []: the table's items are a defaultdict, which would add the partition. On a table without a
    # range key each partition is one item (moto's annotation says otherwise).
    found: Any = table.items.get(hash_key)
    if found is None:
        return []
    return list(found.values()) if table.range_key_attr else [found]


def _unsorted(table: Table) -> list[Item]:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())  # type: ignore[arg-type]


_QUERY = inspect.signature(Table.query)


def install_partition_queries(patcher: Patcher) -> None:
    """moto answers each query by sorting every item of the table, then keeping those it may return: a cost
    that grows with the table, which a sandbox fills with hundreds of incidents. A query on the table reads
    only its partition; one on an index reads the items unsorted, since moto sorts what the index finds by
    the index's and the table's keys. Both answer as moto does, in the same order."""
    query = Table.query

    def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = _QUERY.bind(self, *args, **kwargs).arguments
        index = arguments.get("index_name")
        items = _unsorted(self) if index else _partition(self, arguments["hash_key"])
        return query(_QueriedTable(self, items), *args, **kwargs)  # type: ignore[arg-type]

    patcher.set(Table, "query", partition_query)


# The operations whose answers carry items (attribute values in DynamoDB's JSON, binary ones as bytes).
_ITEM_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


def _wire_json(value: object) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not in DynamoDB's JSON")


def install_direct_dynamodb_items(patcher: Patcher) -> None:
    """Answers that carry items are written as JSON directly, with the status and headers moto's serializer
    gives the operation."""
    execute_result = DynamoResult.execute_result

    def direct(self: DynamoResult, context: ActionContext) -> Any:
        if context.operation_model.name not in _ITEM_READS:
            return execute_result(self, context)
        status, headers, _ = ActionResult({}).execute_result(context)
        return status, headers, json.dumps(self.result, default=_wire_json)

    patcher.set(DynamoResult, "execute_result", direct)


def install_transaction_fix(patcher: Patcher) -> None:
    """A transaction checks each condition once, then writes, only when every one holds."""

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > _TRANSACTION_ITEMS:
            raise TooManyTransactionsException()
        targets: set[tuple[str, str]] = set()
        checked = [_check(self, item, targets) for item in transact_items]
        if any(code is not None for (code, _, _), _ in checked):
            raise TransactionCanceledException([reason for reason, _ in checked])
        written: list[_Write] = []
        try:
            for _, write in checked:
                kind, op, key, _ = write
                if kind != "ConditionCheck":
                    _write(self, kind, op, key)
                    written.append(write)
        except Exception:
            # A write DynamoDB would have refused (a malformed update, say): none of them lands.
            for _, op, key, before in reversed(written):
                if before is None:
                    self.delete_item(op["TableName"], key)
                else:
                    self.put_item(op["TableName"], before)
            raise

    patcher.set(DynamoDBBackend, "transact_write_items", transact_write_items)
