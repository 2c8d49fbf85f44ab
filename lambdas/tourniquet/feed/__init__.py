"""What Tourniquet tells other systems as an incident changes: the SIEM feed (an SQS queue, one envelope per
change) and the workflow status of the finding in Security Hub. Neither ever fails the incident."""
