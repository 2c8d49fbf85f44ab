"""The configurations the infrastructure tests synthesize besides cdk.json's."""

from __future__ import annotations

from stacks.config import PROJECT_ROOT

EXISTING_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:security-pager"
ORGANIZATION_ID = "o-a1b2c3d4e5"
VARIANT_OU = "ou-ab12-cd34ef56"
MANAGEMENT_ACCOUNT = "999988887777"
HUB_ACCOUNT = "111122223333"
# The hub's region first (the existing escalation topic's); each other one gets a forwarder.
VARIANT_REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
STACKSET_OUS = [VARIANT_OU, "ou-ab12-77aa88bb"]
WEEKLY_REPORT_SCHEDULE = "cron(0 8 ? * MON *)"
TEAM_PLAYBOOKS = PROJECT_ROOT / "examples" / "team-playbooks.toml"

# Every channel besides Slack, each with a route of its own.
CHANNELS = {
    "slack": {"severities": ["CRITICAL", "HIGH", "MEDIUM"]},
    "pagerduty": {"severities": ["CRITICAL", "HIGH"]},
    "teams": {"playbooks": ["guardduty-*"]},
    "email": {"addresses": ["secops@example.com"]},
}

# A configuration that differs from cdk.json in every value the template reflects.
VARIANT = {
    "tourniquet": {
        "slack_channel": "C0123ABCDEF",
        "approvers": ["U0AAAAAAA", "U0BBBBBBB"],
        "approver_groups": ["S0SECOPS"],
        "two_person_actions": ["stop_instance"],
        "slack_team_id": "T0123ABCD",
        "slack_app_id": "A0123ABCD",
        "guardduty_min_severity": 7,
        "securityhub_product_names": ["Macie", "Security Hub"],
        "securityhub_min_severity": "CRITICAL",
        "securityhub_v2_product_names": ["GuardDuty", "Inspector"],
        "securityhub_v2_min_severity": "CRITICAL",
        "securityhub_custom_action_ids": ["Contain", "Isolate"],
        "triage_model_id": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "triage_model_timeout_seconds": 10,
        "siem_format": "ocsf",
        "cloudwatch_alarm_prefixes": ["prod-sec-", "pager-"],
        "dedup_window_minutes": 15,
        "approval_timeout_seconds": 900,
        "protected_tag_key": "team:do-not-touch",
        "dry_run": True,
        "escalation_topic_arn": EXISTING_TOPIC_ARN,
        "table_deletion_protection": False,
        "reserved_concurrency": True,
        "retention_days": 30,
        "webhook_max_alerts": 250,
        "weekly_report_schedule": WEEKLY_REPORT_SCHEDULE,
        # The whole organization, but for one OU's accounts by name and the management account.
        "scope_accounts": ["*"],
        "scope_ous": [VARIANT_OU],
        "excluded_accounts": {MANAGEMENT_ACCOUNT: "the management account"},
        "organization_id": ORGANIZATION_ID,
        "regions": VARIANT_REGIONS,
        # The member stack goes to two OUs by StackSet, trusting the hub's roles in the hub's account.
        "stackset_ous": STACKSET_OUS,
        "hub_account_id": HUB_ACCOUNT,
        "channels": CHANNELS,
        # A team's own playbooks, shipped in the asset in place of the bundled ones.
        "playbooks": str(TEAM_PLAYBOOKS),
    }
}

# Only the GuardDuty trigger: the optional rules are off. One region, the hub's: nothing to forward. The
# weekly report with PagerDuty alone, a channel that carries no report.
MINIMAL = {
    "tourniquet": {
        "weekly_report_schedule": WEEKLY_REPORT_SCHEDULE,
        "channels": {"pagerduty": {}},
        "securityhub_product_names": [],
        "securityhub_v2_product_names": [],
        "securityhub_custom_action_ids": [],
        "cloudwatch_alarm_prefixes": [],
        "regions": ["eu-west-1"],
    }
}

CONNECTION_ARN = (
    "arn:aws:codeconnections:eu-west-1:111122223333:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
)
REPOSITORY = "acme/tourniquet"
BRANCH = "release/prod"
# The variant with the pipeline: the StackSet stack goes to the management account (stackset_call_as SELF).
PIPELINE = {
    "tourniquet": {
        **VARIANT["tourniquet"],
        "pipeline": {
            "connection_arn": CONNECTION_ARN,
            "repository": REPOSITORY,
            "branch": BRANCH,
            "stackset_account_id": MANAGEMENT_ACCOUNT,
        },
    }
}
