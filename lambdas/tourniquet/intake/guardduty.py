"""GuardDuty findings, as EventBridge delivers them (``detail``, camelCase) and as the GetFindings API returns
them (``{"Findings": [...]}``, PascalCase), for every resource type GuardDuty reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tourniquet.errors import InvalidAlert
from tourniquet.intake.common import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    build,
    clip,
    count,
    dedup_key,
    first,
    flag,
    from_label,
    from_score,
    invalid,
    join,
    number,
    obj,
    optional_time,
    parse_arn,
    scalar,
    seq,
    short_id,
    subject_rank,
    text,
    time_or_now,
)
from tourniquet.intake.model import (
    Actor,
    Alert,
    Attack,
    FindingRef,
    Observable,
    ObservableType,
    Resource,
    Severity,
)
from tourniquet.state import Ignored

ATTACK_SEQUENCE = "AttackSequence"

# ResourceV2 types (attack sequences) as ASFF resource types.
_V2_TYPES = {
    "EC2_INSTANCE": "AwsEc2Instance",
    "EC2_NETWORK_INTERFACE": "AwsEc2NetworkInterface",
    "S3_BUCKET": "AwsS3Bucket",
    "S3_OBJECT": "AwsS3Object",
    "ACCESS_KEY": "AwsIamAccessKey",
    "EKS_CLUSTER": "AwsEksCluster",
    "KUBERNETES_WORKLOAD": "KubernetesWorkload",
    "CONTAINER": "Container",
    "ECS_CLUSTER": "AwsEcsCluster",
    "ECS_TASK": "AwsEcsTask",
    "AUTOSCALING_AUTO_SCALING_GROUP": "AwsAutoScalingAutoScalingGroup",
    "IAM_INSTANCE_PROFILE": "AwsIamInstanceProfile",
    "CLOUDFORMATION_STACK": "AwsCloudFormationStack",
    "EC2_LAUNCH_TEMPLATE": "AwsEc2LaunchTemplate",
    "EC2_VPC": "AwsEc2Vpc",
    "EC2_IMAGE": "AwsEc2Image",
}


def severity(score: float) -> Severity:
    """GuardDuty's documented bands: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical."""
    return from_score(score)


def severity_of(value: Any, field: str) -> tuple[Severity, str]:
    """The severity and its raw text: a score (also as a string) or, from messier producers, a label."""
    score = number(value)
    if score is not None:
        return severity(score), str(scalar(value))
    label = from_label(value)
    if label is not None:
        return label, str(scalar(value))
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
    raise invalid(field, f"expected a number, got {shown}")


def parse_finding(
    finding: Any, *, at: str = "detail", account: str | None = None, region: str | None = None
) -> Alert | Ignored:
    """One finding in GuardDuty's camelCase form; ``account`` and ``region`` fill gaps from the envelope."""
    if not isinstance(finding, dict):
        raise invalid(at, "expected the GuardDuty finding object")
    service = obj(finding.get("service"))
    if flag(service.get("archived")):
        return Ignored(source="guardduty", reason="archived finding: suppressed or closed in GuardDuty")

    finding_id = text(finding.get("id"), join(at, "id"))
    finding_type = text(finding.get("type"), join(at, "type"))
    account = text(first(finding.get("accountId"), account), join(at, "accountId"))
    region = text(first(finding.get("region"), region), join(at, "region"))
    level, raw_severity = severity_of(finding.get("severity"), join(at, "severity"))
    resource = obj(finding.get("resource"))
    kind = scalar(resource.get("resourceType")) or ""
    resources = sorted(
        _resources(kind, resource, service, region, join(at, "resource")), key=lambda r: subject_rank(r.type)
    )
    sequence = kind == ATTACK_SEQUENCE or finding_type.startswith(f"{ATTACK_SEQUENCE}:")
    subject = finding_id if sequence or not resources else resources[0].id
    return build(
        source="guardduty",
        product="GuardDuty",
        finding_id=finding_id,
        type=finding_type,
        category=finding_type.split(":", 1)[0],
        severity=level,
        severity_raw=raw_severity,
        title=clip(first(finding.get("title")) or finding_type, TITLE_LIMIT),
        description=clip(scalar(finding.get("description"), DESCRIPTION_LIMIT) or "", DESCRIPTION_LIMIT),
        account=account,
        region=region,
        time=time_or_now(service.get("eventLastSeen"), finding.get("updatedAt"), finding.get("createdAt")),
        first_seen=optional_time(service.get("eventFirstSeen"), finding.get("createdAt")),
        resources=tuple(resources),
        actor=_actor(resource, service),
        dedup_key=dedup_key(account, region, finding_type, subject),
        count=count(service.get("count")),
        drill=is_sample(obj(service.get("additionalInfo"))),
        raw_ref=first(finding.get("arn")),
        labels=_labels(service),
        attacks=sequence_attacks(_sequence_of(service)),
        observables=observables(service),
        securityhub=securityhub_ref(first(finding.get("arn")), account, region),
    )


def securityhub_ref(finding_arn: str | None, account: str, region: str) -> FindingRef | None:
    """GuardDuty sends every finding to Security Hub CSPM where it is enabled, under the finding's ARN and
    GuardDuty's product ARN in the finding's region."""
    arn = parse_arn(finding_arn)
    if arn is None or arn.service != "guardduty":
        return None
    product = f"arn:{arn.partition}:securityhub:{region}::product/aws/guardduty"
    return FindingRef(api="asff", id=str(finding_arn), product=product, account=account, region=region)


def sequence_attacks(sequence: dict[str, Any]) -> tuple[Attack, ...]:
    """The tactics and techniques an attack sequence names in its indicators."""
    found: list[Attack] = []
    for indicator in (obj(item) for item in seq(sequence.get("sequenceIndicators"))):
        key = scalar(indicator.get("key"))
        for value in (scalar(v) for v in seq(indicator.get("values"))):
            if value and key == "ATTACK_TACTIC":
                found.append(Attack(tactic=value))
            elif value and key == "ATTACK_TECHNIQUE":
                found.append(Attack(technique=value))
    return tuple(dict.fromkeys(found))


def observables(service: dict[str, Any]) -> tuple[Observable, ...]:
    """What the finding names besides its actor: the peer a resource talked to, the domain it queried, the
    process that ran."""
    action = obj(service.get("action"))
    process = obj(obj(service.get("runtimeDetails")).get("process"))
    peer = _remote_ip(obj(action.get("networkConnectionAction")))
    domain = obj(action.get("dnsRequestAction")).get("domain")
    candidates: tuple[tuple[ObservableType, str, Any], ...] = (
        ("ip", "service.action.networkConnectionAction.remoteIpDetails", peer),
        ("domain", "service.action.dnsRequestAction.domain", domain),
        ("hash", "service.runtimeDetails.process.executableSha256", process.get("executableSha256")),
        ("process", "service.runtimeDetails.process.executablePath", process.get("executablePath")),
    )
    return tuple(
        Observable(type=kind, value=value, name=name)
        for kind, name, raw in candidates
        if (value := scalar(raw)) is not None
    )


def parse_api_finding(
    finding: Any, *, at: str, account: str | None = None, region: str | None = None
) -> Alert | Ignored:
    """One finding as the GetFindings API returns it (PascalCase); errors name the PascalCase fields."""
    try:
        return parse_finding(camel(finding), at=at, account=account, region=region)
    except InvalidAlert as exc:
        if exc.field is None or not exc.field.startswith(f"{at}."):
            raise
        problem = str(exc)[len(exc.field) + 2 :]
        pascal = ".".join(part[:1].upper() + part[1:] for part in exc.field[len(at) + 1 :].split("."))
        raise invalid(join(at, pascal), problem) from exc


def camel(value: Any) -> Any:
    """PascalCase keys to camelCase (``InstanceDetails`` → ``instanceDetails``), at every level."""
    if isinstance(value, dict):
        return {
            (key[:1].lower() + key[1:] if isinstance(key, str) else key): camel(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def is_sample(additional: dict[str, Any]) -> bool:
    """Sample findings say so in ``additionalInfo``: ``{"sample": true}``, or inside its JSON ``value``."""
    if flag(additional.get("sample")):
        return True
    value = additional.get("value")
    if not isinstance(value, str) or "sample" not in value:
        return False
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return False
    return flag(obj(decoded).get("sample"))


def _labels(service: dict[str, Any]) -> dict[str, str]:
    found = {
        "resource_role": scalar(service.get("resourceRole")),
        "feature": scalar(service.get("featureName")),
    }
    return {key: value for key, value in found.items() if value}


def _details(**values: Any) -> dict[str, str]:
    return {key: found for key, value in values.items() if (found := scalar(value)) is not None}


def _resources(
    kind: str, resource: dict[str, Any], service: dict[str, Any], region: str, at: str
) -> list[Resource]:
    builder = _BUILDERS.get(kind)
    if builder is None:
        return []
    found = builder(resource, service, region, at)
    if kind in ("EKSCluster", "ECSCluster", "Container") and obj(resource.get("instanceDetails")).get(
        "instanceId"
    ):
        found.append(_instance(resource, service, region, at))
    return found


def _instance(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> Resource:
    details = obj(resource.get("instanceDetails"))
    instance_id = text(details.get("instanceId"), join(at, "instanceDetails.instanceId"))
    enis = [obj(eni) for eni in seq(details.get("networkInterfaces"))]
    return Resource(
        type="AwsEc2Instance",
        id=short_id(instance_id),
        region=region,
        details=_details(
            vpc_id=next((eni.get("vpcId") for eni in enis if scalar(eni.get("vpcId"))), None),
            instance_profile=obj(details.get("iamInstanceProfile")).get("arn"),
            state=details.get("instanceState"),
        ),
    )


def _access_key(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> list[Resource]:
    details = obj(resource.get("accessKeyDetails"))
    key_id = text(details.get("accessKeyId"), join(at, "accessKeyDetails.accessKeyId"))
    return [
        Resource(
            type="AwsIamAccessKey",
            id=key_id,
            region=region,
            details=_details(
                user_name=details.get("userName"),
                user_type=details.get("userType"),
                principal_id=details.get("principalId"),
            ),
        )
    ]


def _s3_buckets(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> list[Resource]:
    found = []
    for bucket in (obj(item) for item in seq(resource.get("s3BucketDetails"))):
        arn = first(bucket.get("arn"))
        name = first(bucket.get("name")) or (short_id(arn) if arn else None)
        if name:
            owner = obj(bucket.get("owner")).get("id")
            found.append(
                Resource(
                    type="AwsS3Bucket",
                    id=name,
                    arn=arn,
                    region=region,
                    details=_details(role=bucket.get("type"), owner=owner),
                )
            )
    if not found:
        raise invalid(join(at, "s3BucketDetails"), "names no bucket")
    return found


def _named(
    resource_type: str, details_key: str, name_key: str, arn_key: str
) -> Callable[[dict[str, Any], dict[str, Any], str, str], list[Resource]]:
    """A builder for resources GuardDuty describes by name and ARN (clusters, databases, functions)."""

    def build_one(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> list[Resource]:
        details = obj(resource.get(details_key))
        arn = first(details.get(arn_key))
        name = first(details.get(name_key)) or (short_id(arn) if arn else None)
        return [
            Resource(
                type=resource_type,
                id=text(name, join(at, f"{details_key}.{name_key}")),
                arn=arn,
                region=region,
                details=_EXTRA[resource_type](resource, details),
            )
        ]

    return build_one


_EXTRA: dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, str]]] = {
    "AwsEksCluster": lambda resource, details: _details(
        vpc_id=details.get("vpcId"),
        namespace=obj(obj(resource.get("kubernetesDetails")).get("kubernetesWorkloadDetails")).get(
            "namespace"
        ),
        workload=obj(obj(resource.get("kubernetesDetails")).get("kubernetesWorkloadDetails")).get("name"),
    ),
    "AwsEcsCluster": lambda resource, details: _details(
        task_arn=obj(details.get("taskDetails")).get("arn"),
        task_definition=obj(details.get("taskDetails")).get("definitionArn"),
        launch_type=obj(details.get("taskDetails")).get("launchType"),
    ),
    "AwsRdsDbInstance": lambda resource, details: _details(
        engine=details.get("engine"), db_cluster=details.get("dbClusterIdentifier")
    ),
    "AwsLambdaFunction": lambda resource, details: _details(
        role=details.get("role"), version=details.get("functionVersion")
    ),
}


def _container(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> list[Resource]:
    details = obj(resource.get("containerDetails"))
    container_id = first(details.get("id"), details.get("name"))
    return [
        Resource(
            type="Container",
            id=text(container_id, join(at, "containerDetails.id")),
            region=region,
            details=_details(name=details.get("name"), image=details.get("image")),
        )
    ]


def _sequence(resource: dict[str, Any], service: dict[str, Any], region: str, at: str) -> list[Resource]:
    found = []
    for item in (obj(entry) for entry in seq(_sequence_of(service).get("resources"))):
        uid = first(item.get("uid"), item.get("name"))
        if uid is None:
            continue
        kind = scalar(item.get("resourceType")) or ""
        found.append(
            Resource(
                type=_V2_TYPES.get(kind, "Other"),
                id=short_id(uid),
                arn=uid if uid.startswith("arn:") else None,
                region=first(item.get("region")) or region,
                details=_details(name=item.get("name"), account=item.get("accountId")),
            )
        )
    return found


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any], str, str], list[Resource]]] = {
    "Instance": lambda resource, service, region, at: [_instance(resource, service, region, at)],
    "AccessKey": _access_key,
    "S3Bucket": _s3_buckets,
    "EKSCluster": _named("AwsEksCluster", "eksClusterDetails", "name", "arn"),
    "ECSCluster": _named("AwsEcsCluster", "ecsClusterDetails", "name", "arn"),
    "Container": _container,
    "RDSDBInstance": _named(
        "AwsRdsDbInstance", "rdsDbInstanceDetails", "dbInstanceIdentifier", "dbInstanceArn"
    ),
    "Lambda": _named("AwsLambdaFunction", "lambdaDetails", "functionName", "functionArn"),
    ATTACK_SEQUENCE: _sequence,
}


def _sequence_of(service: dict[str, Any]) -> dict[str, Any]:
    return obj(obj(service.get("detection")).get("sequence"))


def _remote_ip(action: dict[str, Any]) -> str | None:
    remote = obj(action.get("remoteIpDetails"))
    return first(remote.get("ipAddressV4"), remote.get("ipAddressV6"))


def acting_ip(action: dict[str, Any]) -> str | None:
    """The address of whoever acted. An API caller or a prober is the actor; for a network connection only an
    inbound peer is (outbound, the peer is where a compromised resource was talking to)."""
    for kind in ("awsApiCallAction", "kubernetesApiCallAction", "rdsLoginAttemptAction"):
        ip = _remote_ip(obj(action.get(kind)))
        if ip:
            return ip
    connection = obj(action.get("networkConnectionAction"))
    if scalar(connection.get("connectionDirection")) == "INBOUND":
        ip = _remote_ip(connection)
        if ip:
            return ip
    probes = [obj(probe) for probe in seq(obj(action.get("portProbeAction")).get("portProbeDetails"))]
    return next((ip for probe in probes if (ip := _remote_ip(probe))), None)


def _actor(resource: dict[str, Any], service: dict[str, Any]) -> Actor | None:
    key = obj(resource.get("accessKeyDetails"))
    sequence = _sequence_of(service)
    sequence_actor = obj(next(iter(seq(sequence.get("actors"))), None))
    user = obj(sequence_actor.get("user"))
    kubernetes_user = obj(obj(resource.get("kubernetesDetails")).get("kubernetesUserDetails"))
    database_user = obj(resource.get("rdsDbUserDetails"))
    endpoint = obj(next(iter(seq(sequence.get("endpoints"))), None))
    actor = Actor(
        principal=first(key.get("principalId"), user.get("uid"), kubernetes_user.get("uid")),
        principal_type=first(key.get("userType"), user.get("type")),
        user_name=first(
            key.get("userName"), user.get("name"), kubernetes_user.get("username"), database_user.get("user")
        ),
        access_key_id=first(key.get("accessKeyId"), user.get("credentialUid")),
        ip=acting_ip(obj(service.get("action"))) or first(endpoint.get("ip")),
    )
    return actor if actor.model_dump(exclude_none=True) else None
