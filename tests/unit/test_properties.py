"""Properties of normalization, checked on generated input: it never fails but with InvalidAlert, the dedup
key is stable for the same problem however it is delivered, and severity mapping keeps the order of scores."""

import contextlib
import copy
import json
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.helpers import EVENTS, load_event
from tourniquet.errors import InvalidAlert
from tourniquet.intake.common import from_label, from_normalized, from_score
from tourniquet.intake.model import Alert, Severity
from tourniquet.intake.normalize import normalize, normalize_all, normalize_part, parts, webhook_parts

pytestmark = pytest.mark.long

FIXTURES = sorted(path.stem for path in EVENTS.glob("*.json"))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "ALARM",
            "OK",
            "firing",
            "resolved",
            "true",
            "8",
            "arn:aws:ec2:x:1:instance/i-1",
            "0001-01-01T00:00:00Z",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _outcomes_or_rejection(event: Any) -> None:
    """Normalizing either yields storable outcomes or raises InvalidAlert; nothing else may escape."""
    try:
        found = parts(event)
    except InvalidAlert:
        return
    for part in found:
        try:
            outcome = normalize_part(part)
        except InvalidAlert:
            continue
        if isinstance(outcome, Alert):
            # The alert is stored in DynamoDB and passed through Step Functions as is.
            dumped = outcome.model_dump(mode="json")
            assert _no_floats(dumped)
            json.dumps(dumped)


def _no_floats(value: Any) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_floats(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_no_floats(item) for item in value)
    return True


@FUZZ
@given(event=json_values)
def test_arbitrary_json_never_raises_anything_but_invalid_alert(event):
    _outcomes_or_rejection(event)


@FUZZ
@given(
    source=st.sampled_from(
        ["aws.guardduty", "aws.securityhub", "aws.cloudwatch", "aws.config", "tourniquet.webhook"]
    ),
    detail_type=st.sampled_from(
        [
            "GuardDuty Finding",
            "Security Hub Findings - Imported",
            "Security Hub Findings - Custom Action",
            "CloudWatch Alarm State Change",
            "Webhook Alert",
        ]
    ),
    detail=json_values,
    extra=st.dictionaries(
        st.sampled_from(["account", "region", "resources", "alarmData"]), json_values, max_size=3
    ),
)
def test_eventbridge_shaped_garbage_never_raises_anything_but_invalid_alert(
    source, detail_type, detail, extra
):
    _outcomes_or_rejection({"source": source, "detail-type": detail_type, "detail": detail, **extra})


@FUZZ
@given(data=st.data(), fixture=st.sampled_from(FIXTURES))
def test_mutated_fixtures_never_raise_anything_but_invalid_alert(data, fixture):
    event = load_event(fixture)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        path = data.draw(st.sampled_from(_paths(event)[1:] or [()]))
        if not path:
            break
        parent = event
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    _outcomes_or_rejection(event)


@FUZZ
@given(source=st.sampled_from(["grafana", "alertmanager"]), body=json_values)
def test_webhook_bodies_never_raise_anything_but_invalid_alert(source, body):
    try:
        found = webhook_parts(source, body)
    except InvalidAlert:
        return
    for part in found:
        with contextlib.suppress(InvalidAlert):
            normalize_part(part)


# --- The dedup key ---------------------------------------------------------------------------------------

instance_ids = st.from_regex(r"\Ai-[0-9a-f]{17}\Z")
accounts = st.from_regex(r"\A[0-9]{12}\Z")
regions = st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-2"])
guardduty_types = st.sampled_from(
    [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Backdoor:EC2/C&CActivity.B!DNS",
        "Trojan:EC2/DGADomainRequest.B",
        "UnauthorizedAccess:EC2/TorClient",
        "Impact:EC2/AbusedDomainRequest.Reputation",
        "Execution:Runtime/NewBinaryExecuted",
    ]
)
timestamps = st.datetimes(timezones=st.just(UTC)).map(
    lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
)


def _native(instance: str, account: str, region: str, finding_type: str) -> dict:
    event = load_event("guardduty_ec2_finding")
    detail = event["detail"]
    detail.update(accountId=account, region=region, type=finding_type)
    detail["resource"]["instanceDetails"]["instanceId"] = instance
    return event


def _through_hub(instance: str, account: str, region: str, finding_type: str) -> dict:
    event = load_event("securityhub_guardduty_ec2")
    finding = event["detail"]["findings"][0]
    head, rest = finding_type.split(":", 1)
    asff_type = f"TTPs/Command and Control/{head}:{rest.replace('/', '-', 1)}"
    finding.update(AwsAccountId=account, Region=region, Types=[asff_type])
    finding["FindingProviderFields"]["Types"] = [asff_type]
    finding["Resources"][0]["Id"] = f"arn:aws:ec2:{region}:{account}:instance/{instance}"
    return event


@settings(max_examples=200, deadline=None)
@given(instance=instance_ids, account=accounts, region=regions, finding_type=guardduty_types)
def test_a_guardduty_finding_has_one_dedup_key_natively_and_through_security_hub(
    instance, account, region, finding_type
):
    native = normalize(_native(instance, account, region, finding_type))
    through_hub = normalize(_through_hub(instance, account, region, finding_type))

    assert isinstance(native, Alert) and isinstance(through_hub, Alert)
    assert through_hub.dedup_key == native.dedup_key
    assert through_hub.type == native.type


@settings(max_examples=200, deadline=None)
@given(
    count=st.one_of(
        st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=99).map(str)
    ),
    score=st.floats(min_value=0.1, max_value=10.0),
    seen=timestamps,
    title=st.text(max_size=80),
)
def test_a_resent_update_keeps_its_dedup_key(count, score, seen, title):
    original = normalize(load_event("guardduty_ec2_finding"))
    update = load_event("guardduty_ec2_finding")
    update["detail"].update(severity=score, title=title, updatedAt=seen)
    update["detail"]["service"].update(count=count, eventLastSeen=seen)

    resent = normalize(update)

    assert isinstance(original, Alert) and isinstance(resent, Alert)
    assert resent.dedup_key == original.dedup_key
    assert resent.finding_id == original.finding_id


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_webhook_alert_keeps_its_dedup_key_whatever_the_label_order_and_status(data):
    event = load_event("alertmanager_v4_firing")
    alert = event["alerts"][data.draw(st.integers(min_value=0, max_value=2))]
    labels = list(alert["labels"].items())
    shuffled = data.draw(st.permutations(labels))
    moved = copy.deepcopy(alert) | {
        "labels": dict(shuffled),
        "status": data.draw(st.sampled_from(["firing", "resolved"])),
        "annotations": {"summary": data.draw(st.text(max_size=40))},
        "endsAt": data.draw(timestamps),
    }

    first = normalize_all(event | {"alerts": [alert]})[0]
    again = normalize_all(event | {"alerts": [moved]})[0]

    assert again.dedup_key == first.dedup_key


@settings(max_examples=100, deadline=None)
@given(fixture=st.sampled_from(FIXTURES))
def test_normalizing_twice_gives_the_same_keys(fixture):
    try:
        first, second = normalize_all(load_event(fixture)), normalize_all(load_event(fixture))
    except InvalidAlert:
        return
    assert [getattr(o, "dedup_key", None) for o in first] == [getattr(o, "dedup_key", None) for o in second]


# --- Severity --------------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(a=finite, b=finite)
def test_guardduty_score_mapping_is_monotonic(a, b):
    assume(a <= b)
    assert from_score(a).rank <= from_score(b).rank


@given(a=finite, b=finite)
def test_asff_normalized_mapping_is_monotonic(a, b):
    assume(a <= b)
    assert from_normalized(a).rank <= from_normalized(b).rank


@settings(max_examples=100, deadline=None)
@given(a=st.floats(min_value=0.0, max_value=10.0), b=st.floats(min_value=0.0, max_value=10.0))
def test_finding_severity_follows_the_score_through_normalization(a, b):
    assume(a <= b)
    low, high = load_event("guardduty_ec2_finding"), load_event("guardduty_ec2_finding")
    low["detail"]["severity"], high["detail"]["severity"] = a, str(b)

    first, second = normalize(low), normalize(high)

    assert isinstance(first, Alert) and isinstance(second, Alert)
    assert first.severity.rank <= second.severity.rank


def test_severity_words_keep_their_order():
    words = ["informational", "low", "medium", "high", "critical"]

    assert [from_label(word) for word in words] == list(Severity)
    assert [from_label(f"P{n}") for n in (5, 4, 3, 2, 1)] == list(Severity)
