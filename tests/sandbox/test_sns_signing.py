"""Every SNS subscription signs with one key made once for the process, and its messages still verify."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509 import load_pem_x509_certificate
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from sandbox.patches import Patcher, install_sns_signing_key
from tests.helpers import REGION, moto_client


@pytest.fixture
def one_key(no_sandbox: None) -> Iterator[None]:
    patcher = Patcher()
    install_sns_signing_key(patcher)
    try:
        with mock_aws():
            yield
    finally:
        patcher.restore()


def _delivered_to_two_queues() -> list[dict[str, Any]]:
    sns, sqs = moto_client("sns"), moto_client("sqs")
    topic = sns.create_topic(Name="pages")["TopicArn"]
    queues = [sqs.create_queue(QueueName=f"on-call-{n}")["QueueUrl"] for n in range(2)]
    for url in queues:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="incident response failed")
    return [json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]) for url in queues]


def _signing_key(message: dict[str, Any]) -> RSAPublicKey:
    certificates = sns_backends[DEFAULT_ACCOUNT_ID][REGION]._message_public_keys
    pem = certificates[message["SigningCertURL"].rsplit("/", 1)[1]]
    key = load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, RSAPublicKey)
    return key


def test_two_subscriptions_sign_with_one_key_and_each_message_verifies(one_key: None):
    messages = _delivered_to_two_queues()
    keys = [_signing_key(message) for message in messages]

    assert keys[0].public_numbers() == keys[1].public_numbers()
    for key, message in zip(keys, messages, strict=True):
        signed = "".join(
            f"{name}\n{message[name]}\n" for name in ("Message", "MessageId", "Timestamp", "TopicArn", "Type")
        )
        key.verify(base64.b64decode(message["Signature"]), signed.encode(), PKCS1v15(), SHA256())
