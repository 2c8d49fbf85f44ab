"""The audit table and its key: incidents, dedup keys, approvals and the append-only timeline in one table."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from tourniquet.store import INCIDENTS_BY_TYPE_INDEX

# The GSI lists incidents of one alert type by when they were first seen; the deduplicate step writes both
# attributes on incident items only, so the index holds nothing else.
TTL_ATTRIBUTE = "expires_at"
INDEX_PARTITION_KEY = "gsi1pk"  # "TYPE#<alert type>"
INDEX_SORT_KEY = "gsi1sk"  # "<first_seen, ISO 8601 UTC>"

# No role gets DeleteItem or BatchWriteItem: the timeline is append-only; TTL expires the rest.
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
# DynamoDB uses the table's key on the caller's behalf; the grant holds only for requests made through it.
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


def retained_key(scope: Construct, construct_id: str, description: str) -> kms.Key:
    """A rotating customer-managed key that outlives the stack, as whatever it encrypted does."""
    return kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )


class AuditStorage(Construct):
    """The table, encrypted with its own key; both are retained when the stack is deleted."""

    def __init__(self, scope: Construct, construct_id: str, *, deletion_protection: bool) -> None:
        super().__init__(scope, construct_id)
        self.key = retained_key(self, "TableKey", "Tourniquet: encrypts the incident and audit table")
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            deletion_protection=deletion_protection,
            # The audit trail outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=INCIDENTS_BY_TYPE_INDEX,
            partition_key=dynamodb.Attribute(name=INDEX_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def grant(
        self, grantee: iam.IGrantable, actions: tuple[str, ...], *, partitions: tuple[str, ...] | None = None
    ) -> None:
        """Allow ``actions`` on the table (only on items whose key starts with one of ``partitions``, if
        given), and the use of its key through DynamoDB."""
        conditions = (
            None
            if partitions is None
            else {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(partitions)}}
        )
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions), resources=[self.table.table_arn], conditions=conditions
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(TABLE_KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}
                },
            )
        )
