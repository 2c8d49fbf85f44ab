"""The one place boto3 clients are made: lazily, shared by threads, honouring the sandbox endpoint override.

Two kinds of client come from here:

* The hub's own services (the table, the workflows, topics, secrets, STS): the function's own credentials,
  in its own region.
* The services a target lives in (EC2, IAM, Auto Scaling, load balancers, CloudTrail, CloudWatch, Health):
  only inside :func:`acting_in`, which names the target's scope (account and region). The client acts
  there through the member stack's role in that account, assumed through the region's STS endpoint with
  the ExternalId, the incident as the session name, and a source identity and session tags that tell
  CloudTrail in that account which incident and which purpose each call served. Asking for such a client
  outside :func:`acting_in` raises: nothing ever acts in the hub's account by default. The hub's own
  account is a member like any other, reached the same way.

Assumed credentials are kept per account, region, role and incident until shortly before they expire, so
one incident's steps in one container assume each role once. Clients and assumed credentials are also kept
per caller (the access key of the function's own credentials): where several functions share a process, as in
the sandbox, none is handed another function's clients or sessions.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from tourniquet import errors
from tourniquet.settings import get_settings

if TYPE_CHECKING:
    from tourniquet.state import Scope

# Standard retry mode backs off on throttling before a Step Functions Retry ever sees it.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
_local = threading.local()
# One session makes every client and resource, each with its credentials given explicitly: the session reads
# the service models, the endpoints and its handlers once (a session per client cost about 10 ms a client).
# Making clients from one session is not thread-safe, so it happens under this lock.
_session_lock = threading.Lock()
_shared_session: boto3.session.Session | None = None


def _session() -> boto3.session.Session:
    """The shared session; call it under ``_session_lock``."""
    global _shared_session  # noqa: PLW0603 (made once, on first use, under the lock)
    if _shared_session is None:
        core = botocore.session.get_session()
        # Every session would parse the same large JSON models again; one loader keeps what it parsed.
        core.register_component("data_loader", botocore.loaders.create_loader())
        _shared_session = boto3.session.Session(botocore_session=core)
    return _shared_session


def _own_credentials() -> dict[str, str | None]:
    """The function's own credentials, as Lambda puts them in the environment (read at each client, since
    functions share a process in the sandbox); none where the environment names none, and the session's
    default chain (a profile, say) applies."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    if not access_key:
        return {}
    return {
        "aws_access_key_id": access_key,
        "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "aws_session_token": os.environ.get("AWS_SESSION_TOKEN"),
    }


def _new_client(service: str, *, credentials: Mapping[str, str | None], **arguments: Any) -> Any:
    with _session_lock:
        # The service name is only known at run time, which the typed overloads cannot express.
        return _session().client(service, **credentials, **arguments)  # type: ignore[call-overload]


# Services that hold a target: reached only in the target's own account and region.
MEMBER_SERVICES = frozenset(
    {"ec2", "iam", "autoscaling", "elb", "elbv2", "cloudtrail", "cloudwatch", "health", "kms"}
)
Purpose = Literal["diagnose", "contain", "release"]
# Assumed credentials are renewed this long before they expire, so no call runs on dying credentials.
_RENEW_BEFORE_SECONDS = 300
_SESSION_SECONDS = 3600
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"})


@dataclass(frozen=True)
class Acting:
    """Who acts where: a target's scope, the role assumed there, and the incident and purpose it serves."""

    scope: Scope
    role_name: str
    incident_id: str
    purpose: Purpose
    # An action IAM allows only in a session of its own, named by the session tag tourniquet:action.
    action: str | None = None

    @property
    def role_arn(self) -> str:
        return f"arn:{partition(self.scope.region)}:iam::{self.scope.account}:role/{self.role_name}"

    def record(self) -> dict[str, str]:
        """Where and as whom, for the timeline: what the target account's CloudTrail shows for each call."""
        return {
            "account": self.scope.account,
            "region": self.scope.region,
            "role": self.role_arn,
            "session": self.incident_id[:64],
        }


def acted_as() -> dict[str, str] | None:
    """The enclosing :func:`acting_in`'s record, if any."""
    acting = _acting.get()
    return acting.record() if acting is not None else None


@functools.cache
def partition(region: str) -> str:
    """The partition (aws, aws-cn, aws-us-gov) of ``region``."""
    with _session_lock:
        return _session().get_partition_for_region(region)


_acting: ContextVar[Acting | None] = ContextVar("tourniquet_acting", default=None)


@contextmanager
def acting_in(
    target_scope: Scope | None, *, incident_id: str, purpose: Purpose, action: str | None = None
) -> Iterator[Acting]:
    """Within this block, target services act in ``target_scope`` for ``incident_id``.

    Raises :class:`errors.OutOfScope` (with the plain reason) for a scope Tourniquet does not act in.
    """
    # The scope's rules (and the models they read) load with the first call of a function that acts in a
    # target's account: the others (the Slack callback, say) only use the hub's own services.
    from tourniquet import scope  # noqa: PLC0415

    settings = get_settings()
    refusal = scope.refusal(target_scope, settings)
    if refusal is not None or target_scope is None:
        raise errors.OutOfScope(refusal or "no scope")
    if not settings.member_role_name:
        raise errors.MemberRoleUnavailable("no member role is configured (MEMBER_ROLE_NAME)")
    acting = Acting(target_scope, settings.member_role_name, incident_id, purpose, action)
    token = _acting.set(acting)
    try:
        yield acting
    finally:
        _acting.reset(token)


def current() -> Acting | None:
    """The scope the current code acts in, if any (for records and worker threads)."""
    return _acting.get()


def client(service: str, *, region: str | None = None, config: Config | None = None) -> Any:
    """A boto3 client for ``service``: the hub's own, or, for a target's services, one acting in the scope
    of the enclosing :func:`acting_in`. Clients are shared by the threads of the process (botocore's clients
    are thread-safe; making one is not, so that happens under a lock).

    A hub service may be asked for in another ``region`` (Security Hub holds a finding in the finding's
    region) and with a ``config`` of its own (a module constant: clients are kept per config)."""
    endpoint = get_settings().aws_endpoint_url
    if service not in MEMBER_SERVICES:
        # The function's own credentials, in its own region unless told otherwise.
        region = region or os.environ.get("AWS_REGION")
        chosen = _CONFIG.merge(config) if config is not None else _CONFIG
        return _shared(
            (service, endpoint, _caller(), region, str(id(config)) if config is not None else None),
            lambda: _new_client(
                service,
                credentials=_own_credentials(),
                region_name=region,
                endpoint_url=endpoint,
                config=chosen,
            ),
        )
    acting = _acting.get()
    if acting is None:
        raise errors.OutOfScope(f"{service} is only reached in a target's own account and region")
    credentials = _credentials(acting, endpoint)
    region = acting.scope.region
    assumed = {
        "aws_access_key_id": credentials.access_key,
        "aws_secret_access_key": credentials.secret_key,
        "aws_session_token": credentials.token,
    }
    return _shared(
        (service, endpoint, region, credentials.access_key),
        lambda: _new_client(
            service, credentials=assumed, region_name=region, endpoint_url=endpoint, config=_CONFIG
        ),
    )


_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def _shared(key: tuple[str | None, ...], make: Callable[[], Any]) -> Any:
    with _clients_lock:
        made = _clients.get(key)
        if made is None:
            # A warm container keeps no client of credentials it no longer holds (an earlier incident's).
            with _assumed_lock:
                live = {credentials.access_key for credentials in _assumed.values()}
            for stale in [k for k in _clients if k[0] in MEMBER_SERVICES and k[-1] not in live]:
                del _clients[stale]
            made = _clients[key] = make()
        return made


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires: float


_assumed: dict[tuple[str | None, ...], _Credentials] = {}
_assumed_lock = threading.Lock()


def _caller() -> str | None:
    """Who this function is: the access key of its own credentials, which Lambda puts in the environment
    (None where credentials come from elsewhere, as one caller)."""
    return os.environ.get("AWS_ACCESS_KEY_ID")


def _credentials(acting: Acting, endpoint: str | None) -> _Credentials:
    key = (acting.role_arn, acting.incident_id, acting.action, endpoint, _caller())
    with _assumed_lock:
        now = time.time()
        known = _assumed.get(key)
        if known is not None and known.expires - now > _RENEW_BEFORE_SECONDS:
            return known
        fresh = _assume(acting, endpoint)
        for stale in [k for k, c in _assumed.items() if c.expires - now <= _RENEW_BEFORE_SECONDS]:
            del _assumed[stale]
        _assumed[key] = fresh
        return fresh


def forget_credentials() -> None:
    """Drop every assumed credential and the clients made with them, so the next call in a target's
    account assumes afresh (when the accounts behind an endpoint were replaced, as between two emulated AWS
    backends). The hub's own clients stay: they carry the function's own credentials, which are part of
    their key, as the endpoint is."""
    with _assumed_lock:
        _assumed.clear()
    with _clients_lock:
        for member in [key for key in _clients if key[0] in MEMBER_SERVICES]:
            del _clients[member]


def _assume(acting: Acting, endpoint: str | None) -> _Credentials:
    settings = get_settings()
    # The region's own STS endpoint: the call stays in the target's region, and works there even if
    # another region's STS is impaired.
    sts = _new_client(
        "sts",
        credentials=_own_credentials(),
        region_name=acting.scope.region,
        endpoint_url=endpoint,
        config=_CONFIG,
    )
    session_name = acting.incident_id[:64]
    arguments: dict[str, Any] = {
        "RoleArn": acting.role_arn,
        "RoleSessionName": session_name,
        "SourceIdentity": session_name,
        "Tags": [
            {"Key": "tourniquet:incident", "Value": acting.incident_id},
            {"Key": "tourniquet:purpose", "Value": acting.purpose},
            *([{"Key": "tourniquet:action", "Value": acting.action}] if acting.action else []),
        ],
        "DurationSeconds": _SESSION_SECONDS,
    }
    if settings.external_id:
        arguments["ExternalId"] = settings.external_id
    try:
        assumed = sts.assume_role(**arguments)["Credentials"]
    except ClientError as exc:
        if error_code(exc) in _DENIED_CODES:
            raise errors.MemberRoleUnavailable(
                f"Tourniquet's member role {acting.role_name} is missing in account {acting.scope.account} "
                "or does not trust this deployment: deploy the member stack there"
            ) from exc
        raise
    expiration = assumed["Expiration"]
    expires = expiration.timestamp() if isinstance(expiration, datetime) else time.time() + _SESSION_SECONDS
    return _Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"], expires)


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
    }
)


def is_throttling(exc: Exception) -> bool:
    return error_code(exc) in _THROTTLING_CODES


def resource(service: str) -> Any:
    """A boto3 resource of the hub's own (used for DynamoDB's item API), made the same way as
    :func:`client`."""
    endpoint = get_settings().aws_endpoint_url
    cache: dict[tuple[str, str | None, str | None], Any] = _local.__dict__.setdefault("resources", {})
    key = (service, endpoint, _caller())
    if key not in cache:
        with _session_lock:
            cache[key] = _session().resource(  # type: ignore[call-overload]
                service,
                region_name=os.environ.get("AWS_REGION"),
                endpoint_url=endpoint,
                config=_CONFIG,
                **_own_credentials(),
            )
    return cache[key]


def table(name: str) -> Any:
    """The hub's DynamoDB table ``name`` (a boto3 ``Table``), made once per thread and caller like
    :func:`resource`: making one costs about as much as a call to moto."""
    key = (name, get_settings().aws_endpoint_url, _caller())
    tables: dict[tuple[str, str | None, str | None], Any] = _local.__dict__.setdefault("tables", {})
    if key not in tables:
        tables[key] = resource("dynamodb").Table(name)
    return tables[key]
