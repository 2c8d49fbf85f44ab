"""The deployment configuration: cdk.json defaults, file overrides, one-line errors that name the key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.config import (
    APPROVER_PLACEHOLDER,
    PROJECT_ROOT,
    ConfigError,
    SeverityLabel,
    TourniquetConfig,
    cli_context,
    labels_at_or_above,
    load_config,
    project_context,
)
from stacks.synth import merged_context, synthesize_template

VALID = {"slack_channel": "#security-incidents", "approvers": ["U0SANDBOXAPPROVER"]}


def context_with(**values: Any) -> dict[str, Any]:
    return {"tourniquet": {**VALID, **values}}


def test_cdk_json_holds_a_complete_valid_config() -> None:
    config = load_config(project_context())
    assert config == TourniquetConfig(
        slack_channel="#security-incidents",
        approvers=(APPROVER_PLACEHOLDER,),
        approver_groups=(),
        two_person_actions=(),
        slack_team_id=None,
        slack_app_id=None,
        guardduty_min_severity=4,
        securityhub_product_names=("Inspector", "Macie", "IAM Access Analyzer"),
        securityhub_min_severity="HIGH",
        cloudwatch_alarm_prefixes=("security-",),
        dedup_window_minutes=60,
        approval_timeout_seconds=3600,
        protected_tag_key="tourniquet:protected",
        protected_principals=(),
        dry_run=False,
        escalation_topic_arn=None,
        table_deletion_protection=True,
        reserved_concurrency=False,
        retention_days=90,
        webhook_max_alerts=100,
    )
    assert config.dedup_window_seconds == 3600


def test_defaults_apply_to_keys_left_out() -> None:
    config = load_config({"tourniquet": VALID})
    assert config.approver_groups == ()
    assert config.two_person_actions == ()
    assert config.slack_team_id is None
    assert config.slack_app_id is None
    assert config.guardduty_min_severity == 4
    assert config.securityhub_product_names == ("Inspector", "Macie", "IAM Access Analyzer")
    assert config.securityhub_min_severity == "HIGH"
    assert config.cloudwatch_alarm_prefixes == ("security-",)
    assert config.dedup_window_minutes == 60
    assert config.approval_timeout_seconds == 3600
    assert config.protected_tag_key == "tourniquet:protected"
    assert config.dry_run is False
    assert config.escalation_topic_arn is None
    assert config.table_deletion_protection is True
    assert config.reserved_concurrency is False
    assert config.retention_days == 90
    assert config.webhook_max_alerts == 100


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("slack_channel", "security incidents"),
        ("approvers", []),
        ("approvers", ["alice"]),
        ("approvers", ["U0AAAAAAA", "U0AAAAAAA"]),
        ("approvers", ["S0SECOPS"]),
        ("approver_groups", ["U0AAAAAAA"]),
        ("approver_groups", ["S0SECOPS", "S0SECOPS"]),
        ("two_person_actions", ["stop_instnace"]),
        ("two_person_actions", ["stop_instance", "stop_instance"]),
        ("slack_team_id", "acme"),
        ("slack_app_id", "T0123ABCD"),
        ("guardduty_min_severity", 11),
        ("guardduty_min_severity", -1),
        ("securityhub_product_names", "Macie"),
        ("securityhub_product_names", ["Macie", "Macie"]),
        ("securityhub_product_names", ["GuardDuty"]),
        ("securityhub_product_names", [" "]),
        ("securityhub_min_severity", "SEVERE"),
        ("securityhub_min_severity", "high"),
        ("securityhub_v2_product_names", ["Inspector", "Inspector"]),
        ("securityhub_v2_min_severity", "FATAL"),
        ("securityhub_custom_action_ids", ["Send To Tourniquet"]),
        ("securityhub_custom_action_ids", ["A" * 21]),
        ("triage_model_id", "Claude please"),
        ("triage_model_id", "arn:aws:s3:::bucket/model"),
        ("triage_model_timeout_seconds", 0),
        ("triage_model_timeout_seconds", 61),
        ("siem_format", "cef"),
        ("cloudwatch_alarm_prefixes", [""]),
        ("cloudwatch_alarm_prefixes", ["sec-", "sec-"]),
        ("cloudwatch_alarm_prefixes", ["Tourniquet-"]),
        ("cloudwatch_alarm_prefixes", ["tour"]),
        ("cloudwatch_alarm_prefixes", ["Tourniquet-Contain"]),
        ("dedup_window_minutes", 0),
        ("approval_timeout_seconds", 59),
        ("protected_tag_key", "aws:protected"),
        ("protected_tag_key", ""),
        ("protected_tag_key", "tourniquet:managed"),
        ("protected_tag_key", "Name"),
        ("dry_run", "sometimes"),
        ("escalation_topic_arn", "arn:aws:sqs:eu-west-1:123456789012:queue"),
        ("escalation_topic_arn", "arn:aws:sns:eu-west-1:123456789012:pager.fifo"),
        ("table_deletion_protection", "maybe"),
        ("reserved_concurrency", "lots"),
        ("retention_days", 0),
        ("retention_days", 3651),
        ("retention_days", "forever"),
        ("webhook_max_alerts", 0),
        ("webhook_max_alerts", 1001),
        ("scope_accounts", ["12345678901"]),
        ("scope_accounts", ["123456789012", "*"]),
        ("scope_accounts", ["123456789012", "123456789012"]),
        ("scope_accounts", "*"),
        ("scope_ous", ["ou-prod"]),
        ("scope_ous", ["ou-ab12-cd34ef56", "ou-ab12-cd34ef56"]),
        ("excluded_accounts", {"management": "the management account"}),
        ("excluded_accounts", {"111111111111": ""}),
        ("excluded_accounts", {"111111111111": "two\nlines"}),
        ("excluded_accounts", ["111111111111"]),
        ("regions", ["eu-west"]),
        ("regions", ["eu-west-1", "eu-west-1"]),
        ("regions", ["EU-WEST-1"]),
        ("organization_id", "o-short"),
        ("organization_id", "r-ab12"),
        ("stackset_ous", ["o-a1b2c3d4e5"]),
        ("stackset_call_as", "ADMIN"),
        ("hub_account_id", "12345678901x"),
        ("member_role_names", {"diagnose": "Same", "contain": "Same", "release": "Other"}),
        ("member_role_names", {"contain": "Tourniquet-Contain"}),
        ("external_id", "x"),
    ],
)
def test_an_invalid_value_fails_with_one_line_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(**{key: value}))
    message = str(caught.value)
    assert message.startswith(f"config key '{key}': ")
    assert "\n" not in message


def test_the_cloudwatch_trigger_never_selects_tourniquets_own_alarms() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(cloudwatch_alarm_prefixes=["security-", "T"]))
    assert str(caught.value) == (
        "config key 'cloudwatch_alarm_prefixes': "
        "T would select Tourniquet's own alarms (named 'Tourniquet-…')"
    )


def test_guardduty_is_refused_as_a_security_hub_product() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'securityhub_product_names': GuardDuty findings "):
        load_config(context_with(securityhub_product_names=["Macie", "GuardDuty"]))


@pytest.mark.parametrize(
    ("minimum", "labels"),
    [
        ("INFORMATIONAL", ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]),
        ("MEDIUM", ["MEDIUM", "HIGH", "CRITICAL"]),
        ("CRITICAL", ["CRITICAL"]),
    ],
)
def test_security_hub_labels_at_or_above_the_minimum(minimum: SeverityLabel, labels: list[str]) -> None:
    assert labels_at_or_above(minimum) == labels


def test_empty_trigger_lists_are_valid() -> None:
    config = load_config(context_with(securityhub_product_names=[], cloudwatch_alarm_prefixes=[]))
    assert config.securityhub_product_names == ()
    assert config.cloudwatch_alarm_prefixes == ()


def test_slack_identities_and_the_two_person_rule() -> None:
    config = load_config(
        context_with(
            approver_groups=["S0SECOPS"],
            two_person_actions=["stop_instance"],
            slack_team_id="T0123ABCD",
            slack_app_id="A0123ABCD",
        )
    )
    assert config.approver_groups == ("S0SECOPS",)
    assert config.two_person_actions == ("stop_instance",)
    assert (config.slack_team_id, config.slack_app_id) == ("T0123ABCD", "A0123ABCD")


def test_two_person_actions_are_checked_against_the_containment_actions() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(two_person_actions=["stop_instance", "shred_disks"]))
    message = str(caught.value)
    assert message.startswith(
        "config key 'two_person_actions': unknown containment actions shred_disks; known: "
    )
    assert "stop_instance" in message
    assert message.endswith(", release")


def test_release_may_need_two_approvers_and_is_offered_for_the_configured_days() -> None:
    config = load_config(context_with(two_person_actions=["release"], release_offer_days=7))
    assert config.two_person_actions == ("release",)
    assert config.release_offer_days == 7
    with pytest.raises(ConfigError, match="release_offer_days"):
        load_config(context_with(release_offer_days=0))


@pytest.mark.parametrize("value", [1, 3650])
def test_retention_may_be_a_day_to_ten_years(value: int) -> None:
    assert load_config(context_with(retention_days=value)).retention_days == value


@pytest.mark.parametrize("value", [1, 1000])
def test_a_webhook_request_may_carry_one_to_a_thousand_alerts(value: int) -> None:
    assert load_config(context_with(webhook_max_alerts=value)).webhook_max_alerts == value


ACCOUNT_A, ACCOUNT_B, MANAGEMENT = "111111111111", "222222222222", "999999999999"
ORGANIZATION = "o-a1b2c3d4e5"


def test_the_default_scope_is_the_hubs_own_account_and_region() -> None:
    config = load_config(project_context())
    assert config.scope_accounts == config.scope_ous == config.regions == ()
    assert config.excluded_accounts == {}
    assert config.home_region is None
    assert config.forwarded_regions == ()
    assert config.organization_id is None
    assert config.hub_account_id is None
    assert config.stackset_ous == ()
    assert config.stackset_call_as == "SELF"


def test_an_organization_wide_scope() -> None:
    config = load_config(
        context_with(
            scope_accounts=["*"],
            scope_ous=["ou-ab12-cd34ef56", "r-ab12"],
            excluded_accounts={MANAGEMENT: "the management account: alert only"},
            regions=["eu-west-1", "eu-central-1", "us-gov-west-1"],
            organization_id=ORGANIZATION,
            stackset_ous=["ou-ab12-cd34ef56"],
            stackset_call_as="DELEGATED_ADMIN",
            hub_account_id=ACCOUNT_A,
        )
    )
    assert config.scope_accounts == ("*",)
    assert config.excluded_accounts == {MANAGEMENT: "the management account: alert only"}
    assert config.home_region == "eu-west-1"
    assert config.forwarded_regions == ("eu-central-1", "us-gov-west-1")


def test_an_account_cannot_be_in_scope_and_excluded() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(scope_accounts=[ACCOUNT_A, ACCOUNT_B], excluded_accounts={ACCOUNT_B: "no"}))
    assert str(caught.value) == (
        f"config key 'excluded_accounts': {ACCOUNT_B} listed in scope_accounts as well"
    )


@pytest.mark.parametrize("scope", [{"scope_accounts": ["*"]}, {"scope_ous": ["ou-ab12-cd34ef56"]}])
def test_a_scope_beyond_named_accounts_needs_the_organization_id(scope: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(**scope))
    message = str(caught.value)
    assert message.startswith("config key 'organization_id': required when scope_accounts is ['*'] or ")
    assert "\n" not in message
    assert load_config(context_with(**scope, organization_id=ORGANIZATION)).organization_id == ORGANIZATION


def test_named_accounts_need_no_organization_id() -> None:
    config = load_config(context_with(scope_accounts=[ACCOUNT_A, ACCOUNT_B]))
    assert config.scope_accounts == (ACCOUNT_A, ACCOUNT_B)
    assert config.organization_id is None


def test_a_stackset_needs_the_hub_account() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(stackset_ous=["ou-ab12-cd34ef56"]))
    assert str(caught.value) == (
        "config key 'hub_account_id': required with stackset_ous: the member template names the hub's "
        "roles in that account"
    )


CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
PIPELINE = {"connection_arn": CONNECTION, "repository": "acme/tourniquet"}
PIPELINE_PLACE = {"hub_account_id": ACCOUNT_A, "regions": ["eu-west-1"]}


def test_a_pipeline_deploys_the_main_branch_unless_told_otherwise() -> None:
    config = load_config(context_with(**PIPELINE_PLACE, pipeline=PIPELINE))
    assert config.pipeline is not None
    assert (config.pipeline.repository, config.pipeline.branch) == ("acme/tourniquet", "main")
    assert config.pipeline.stackset_account_id is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pipeline": PIPELINE}, "needs hub_account_id and regions: the pipeline lives in the hub's account"),
        ({"pipeline": PIPELINE, "regions": ["eu-west-1"]}, "needs hub_account_id: the pipeline lives"),
        (
            {**PIPELINE_PLACE, "pipeline": PIPELINE, "stackset_ous": ["ou-ab12-cd34ef56"]},
            "needs stackset_account_id with stackset_ous: the account of the StackSet stack",
        ),
        (
            {**PIPELINE_PLACE, "pipeline": {**PIPELINE, "stackset_account_id": MANAGEMENT}},
            "stackset_account_id is for stackset_ous, which is empty",
        ),
    ],
)
def test_a_pipeline_needs_the_accounts_and_region_it_deploys_to(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(**values))
    assert str(caught.value).startswith(f"config key 'pipeline': {message}")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("connection_arn", "arn:aws:codecommit:eu-west-1:111111111111:tourniquet"),
        ("connection_arn", "arn:aws:codestar-connections:eu-west-1:111111111111:connection/not-a-uuid"),
        ("repository", "tourniquet"),
        ("repository", "https://github.com/acme/tourniquet"),
        ("branch", "main..next"),
        ("branch", "-f"),
        ("branch", "feature/"),
        ("branch", "release/.hidden"),
        ("stackset_account_id", "management"),
        ("unknown", "value"),
    ],
)
def test_an_invalid_pipeline_value_is_named(key: str, value: str) -> None:
    # Valid but for the one value.
    settings = {**PIPELINE, "stackset_account_id": MANAGEMENT, key: value}
    with pytest.raises(ConfigError) as caught:
        load_config(context_with(**PIPELINE_PLACE, stackset_ous=["ou-ab12-cd34ef56"], pipeline=settings))
    message = str(caught.value)
    assert message.startswith(f"config key 'pipeline.{key}': ")
    assert "\n" not in message


def test_member_role_names_are_distinct_and_never_the_hubs() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'member_role_names': the diagnose, contain and "):
        load_config(context_with(member_role_names={"diagnose": "A", "contain": "A"}))
    with pytest.raises(ConfigError, match=r"belong to the hub's roles$"):
        load_config(context_with(member_role_names={"release": "Tourniquet-Release"}))
    with pytest.raises(ConfigError, match=r"^config key 'member_role_names\.contain': String should match"):
        load_config(context_with(member_role_names={"contain": "has space"}))
    with pytest.raises(ConfigError, match=r"^config key 'member_role_names\.quarantine': Extra inputs"):
        load_config(context_with(member_role_names={"quarantine": "Q"}))


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'aprovers': Extra inputs are not permitted$"):
        load_config(context_with(aprovers=["U0AAAAAAA"]))


def test_a_missing_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'approvers': Field required$"):
        load_config({"tourniquet": {"slack_channel": "#security-incidents"}})


def test_the_context_value_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match=r"^context key 'tourniquet': must be an object$"):
        load_config({"tourniquet": ["#security-incidents"]})


def test_a_json_file_overrides_cdk_json_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps({"approvers": ["U0AAAAAAA", "U0BBBBBBB"], "dry_run": True}))
    config = load_config({**context_with(dedup_window_minutes=30), "config": str(path)})
    assert config.approvers == ("U0AAAAAAA", "U0BBBBBBB")
    assert config.dry_run is True
    assert config.dedup_window_minutes == 30
    assert config.slack_channel == "#security-incidents"


def test_a_yaml_file_overrides_cdk_json(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(
        "slack_channel: '#sec-prod'\nguardduty_min_severity: 7.5\ntable_deletion_protection: false\n"
    )
    config = load_config({**context_with(), "config": str(path)})
    assert config.slack_channel == "#sec-prod"
    assert config.guardduty_min_severity == 7.5
    assert config.table_deletion_protection is False


def test_a_bad_value_in_the_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "prod.yml"
    path.write_text("approval_timeout_seconds: 10\n")
    with pytest.raises(ConfigError, match=r"^config key 'approval_timeout_seconds': "):
        load_config({**context_with(), "config": str(path)})


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, r"^config file '.*missing\.json': No such file or directory$"),
        ("broken.json", "{", r"^config file '.*broken\.json': not valid JSON: "),
        ("broken.yaml", "a: [", r"^config file '.*broken\.yaml': not valid YAML: "),
        ("list.json", "[1, 2]", r"^config file '.*list\.json': must hold an object of config keys$"),
    ],
)
def test_an_unusable_file_is_named(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config({**context_with(), "config": str(path)})


def test_overrides_merge_into_the_tourniquet_object() -> None:
    base = {"tourniquet": {**VALID, "dry_run": False}, "other": 1}
    merged = merged_context(base, {"tourniquet": {"dry_run": True}, "extra": 2})
    assert merged == {"tourniquet": {**VALID, "dry_run": True}, "other": 1, "extra": 2}


def test_in_process_synthesis_fails_on_a_bad_config() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'approvers': "):
        synthesize_template({"tourniquet": {"approvers": []}})


def run_cdk_app(context: dict[str, Any], out: Path) -> subprocess.CompletedProcess[str]:
    """``app.py`` as the CDK CLI runs it: the context from cdk.json and -c flags, and an output directory."""
    environment = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(out)}
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_deploy_still_naming_the_placeholder_approver_ends_with_one_line(tmp_path: Path) -> None:
    result = run_cdk_app(project_context(), tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tourniquet: config key 'approvers': U0PLACEHOLDER is cdk.json's placeholder, not a person: name the "
        "Slack user ids of the people who may approve (cdk.json, or a file given with -c config=FILE)"
    ]
    assert not list(tmp_path.iterdir())


def test_the_cdk_app_ends_with_one_line_naming_the_key(tmp_path: Path) -> None:
    result = run_cdk_app(context_with(approval_timeout_seconds=5), tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tourniquet: config key 'approval_timeout_seconds': Input should be greater than or equal to 60"
    ]
    assert not list(tmp_path.iterdir())


def test_the_cli_context_is_read_from_the_environment_and_its_overflow_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overflow = tmp_path / "context.json"
    overflow.write_text(json.dumps({"tourniquet": {"dry_run": True}, "large": "x" * 10}))
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"small": 1}))
    monkeypatch.setenv("CONTEXT_OVERFLOW_LOCATION_ENV", str(overflow))

    assert cli_context() == {"small": 1, "tourniquet": {"dry_run": True}, "large": "x" * 10}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CDK_CONTEXT_JSON", "{not json", "^the context the CDK CLI passed is not JSON: "),
        ("CONTEXT_OVERFLOW_LOCATION_ENV", "/nonexistent/context.json", "^the context file the CDK CLI named"),
    ],
    ids=["not-json", "missing-file"],
)
def test_an_unreadable_cli_context_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    monkeypatch.delenv("CONTEXT_OVERFLOW_LOCATION_ENV", raising=False)
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=message):
        cli_context()


def test_every_key_is_documented() -> None:
    deploy = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    first_cells = re.findall(r"^\| (`[^|]+`) \|", deploy, flags=re.MULTILINE)
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert set(TourniquetConfig.model_fields) <= documented


def test_a_config_file_may_begin_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps({"dry_run": True}), encoding="utf-8-sig")

    assert load_config({**context_with(), "config": str(path)}).dry_run is True


BUNDLED_PLAYBOOKS = PROJECT_ROOT / "lambdas" / "tourniquet" / "playbooks" / "playbooks.toml"


def test_a_relative_playbooks_path_is_read_from_beside_the_file_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "ours.toml").write_bytes(BUNDLED_PLAYBOOKS.read_bytes())
    (team / "prod.json").write_text(json.dumps({"playbooks": "ours.toml"}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    from_file = load_config({**context_with(), "config": str(team / "prod.json")})
    from_cdk_json = load_config(context_with(playbooks="lambdas/tourniquet/playbooks/playbooks.toml"))

    assert from_file.playbooks == team / "ours.toml"
    assert from_cdk_json.playbooks == BUNDLED_PLAYBOOKS
