"""The two Standard workflows, each deployed from its ASL file: incident response and release."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.asl import approval_expiry_state, placeholders
from stacks.config import PROJECT_ROOT
from stacks.monitoring import ExpiryState
from stacks.nag import XRAY_REASON, acknowledge
from stacks.topics import Topics

ASL_PATH = PROJECT_ROOT / "statemachines" / "incident_response.asl.json"
RELEASE_ASL_PATH = PROJECT_ROOT / "statemachines" / "release_incident.asl.json"
ESCALATION_TOPIC_PLACEHOLDER = "EscalationTopicArn"


class Workflows(Construct):
    """The state machines, invoking exactly the functions their definitions name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        topics: Topics,
        log_retention: logs.RetentionDays,
    ) -> None:
        """``functions`` maps each ASL placeholder (``NormalizeFunctionArn``) to the function it names."""
        super().__init__(scope, construct_id)
        self._functions = functions
        self._topics = topics
        self.incident_response_logs = self._log_group("StateMachineLogs", "IncidentResponse", log_retention)
        self.incident_response = self._state_machine(
            "IncidentResponse", ASL_PATH, self.incident_response_logs
        )
        self.release = self._state_machine(
            "ReleaseIncident",
            RELEASE_ASL_PATH,
            self._log_group("ReleaseMachineLogs", "ReleaseIncident", log_retention),
        )
        name, kind = approval_expiry_state(ASL_PATH.read_text())
        # The state an approval that waited out every timeout enters; the expired-approvals alarm counts it.
        self.expiry_state = ExpiryState(name, kind)

    def _log_group(
        self, construct_id: str, state_machine_id: str, retention: logs.RetentionDays
    ) -> logs.LogGroup:
        # Step Functions adds every log group it delivers to into the account's CloudWatch Logs resource
        # policy, which holds at most 5,120 characters; log groups under /aws/vendedlogs/ are admitted
        # without growing it. (Renaming replaces a deployed log group; the old one is retained.)
        name = f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{state_machine_id}"
        return logs.LogGroup(self, construct_id, log_group_name=name, retention=retention)

    def _state_machine(self, construct_id: str, path: Path, log_group: logs.ILogGroup) -> sfn.StateMachine:
        """A Standard workflow from its ASL file, invoking exactly the functions its placeholders name."""
        definition = path.read_text()
        named = placeholders(definition)
        invoked = {name: fn for name, fn in self._functions.items() if name in named}
        substitutions = {name: fn.function_arn for name, fn in invoked.items()}
        if ESCALATION_TOPIC_PLACEHOLDER in named:
            substitutions[ESCALATION_TOPIC_PLACEHOLDER] = self._topics.escalation_topic.topic_arn
        missing = named - substitutions.keys()
        if missing:
            raise ValueError(f"{path.name}: no value for placeholder(s) {', '.join(sorted(missing))}")

        state_machine = sfn.StateMachine(
            self,
            construct_id,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            # Execution data stays out of the logs: states carry task tokens, principals and alert details.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # The definition is a string, so CDK cannot infer these grants: exactly the functions it invokes, by
        # the unqualified ARNs the definition names (no version or alias wildcard).
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[fn.function_arn for fn in invoked.values()]
            )
        )
        if ESCALATION_TOPIC_PLACEHOLDER in named:
            self._topics.grant_escalation(state_machine)
        acknowledge(
            state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            XRAY_REASON + " Step Functions log delivery (logs:CreateLogDelivery, logs:PutResourcePolicy and "
            "the related reads) supports only Resource '*' as well.",
        )
        return state_machine
