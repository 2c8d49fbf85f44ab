"""While a sandbox runs, every boto3 session of the process reads the service models through one loader: a
session made afresh (as the sandbox's deployer, moto and the tests make them) parses no model again."""

from __future__ import annotations

import boto3

from sandbox.core import Sandbox


def _loader(session: boto3.session.Session) -> object:
    return session._session.get_component("data_loader")


def test_sessions_made_apart_share_the_models_they_read(sandbox: Sandbox):
    first, second = boto3.session.Session(), boto3.session.Session()

    assert _loader(first) is _loader(second)
    assert _loader(first).load_service_model("ec2", "service-2") is _loader(second).load_service_model(
        "ec2", "service-2"
    )
    # Clients made from either still call the embedded AWS.
    client = second.client("sts", endpoint_url=sandbox.endpoint_url, region_name=sandbox.region)
    assert client.get_caller_identity()["Account"] == sandbox.hub_account
