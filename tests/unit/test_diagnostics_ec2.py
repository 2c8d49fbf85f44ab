"""The ec2_instance summary, built from describe-shaped data without AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tourniquet.diagnostics.ec2 import summarize

INSTANCE: dict[str, Any] = {
    "InstanceId": "i-0a1b2c3d4e5f67890",
    "State": {"Name": "running"},
    "InstanceType": "m5.large",
    "LaunchTime": datetime(2026, 11, 18, 22, 1, 8, tzinfo=UTC),
    "Placement": {"AvailabilityZone": "eu-west-1a"},
    "VpcId": "vpc-0fedcba9876543210",
    "SubnetId": "subnet-0a9b8c7d6e5f43210",
    "Tags": [{"Key": "Name", "Value": "web-app-1"}, {"Key": "tourniquet:protected", "Value": ""}],
    "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/web-app-profile"},
    "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1", "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ],
    "NetworkInterfaces": [
        {
            "NetworkInterfaceId": "eni-1",
            "VpcId": "vpc-0fedcba9876543210",
            "SubnetId": "subnet-0a9b8c7d6e5f43210",
            "PrivateIpAddress": "10.0.1.23",
            "Association": {"PublicIp": "54.78.12.34"},
            "Groups": [{"GroupId": "sg-1", "GroupName": "web-app"}],
        }
    ],
}


def test_summary_joins_volume_sizes_and_skips_instance_store():
    summary = summarize(INSTANCE, None, [{"VolumeId": "vol-1", "Size": 16}], "tourniquet:protected")

    assert summary["volumes"] == [
        {"volume_id": "vol-1", "device": "/dev/xvda", "size_gib": 16, "delete_on_termination": True}
    ]


def test_summary_reports_interfaces_with_public_address_and_groups():
    [eni] = summarize(INSTANCE, None, [], "tourniquet:protected")["network_interfaces"]

    assert eni["public_ip"] == "54.78.12.34"
    assert eni["groups"] == [{"id": "sg-1", "name": "web-app"}]


def test_protected_is_the_presence_of_the_configured_tag_key():
    assert summarize(INSTANCE, None, [], "tourniquet:protected")["protected"] is True
    assert summarize(INSTANCE, None, [], "security:do-not-touch")["protected"] is False


def test_summary_formats_launch_time_and_profile():
    summary = summarize(INSTANCE, None, [], "tourniquet:protected")

    assert summary["launch_time"] == "2026-11-18T22:01:08.000Z"
    assert summary["iam_instance_profile"] == "arn:aws:iam::123456789012:instance-profile/web-app-profile"


def test_status_checks_come_from_the_instance_status():
    status = {"InstanceStatus": {"Status": "impaired"}, "SystemStatus": {"Status": "ok"}}

    assert summarize(INSTANCE, status, [], "k")["status_checks"] == {"instance": "impaired", "system": "ok"}
    assert summarize(INSTANCE, None, [], "k")["status_checks"] == {"instance": None, "system": None}
