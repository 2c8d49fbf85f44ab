"""botocore cleans each part of its User-Agent header character by character, twice a request; in the
sandbox and the tests each distinct part is cleaned once, and the header is the one botocore writes."""

from __future__ import annotations

import boto3
import botocore.useragent
import pytest

from sandbox.patches import Patcher, install_user_agent_cache


def test_each_user_agent_part_is_cleaned_once_and_the_header_is_unchanged(monkeypatch: pytest.MonkeyPatch):
    clean = botocore.useragent.sanitize_user_agent_string_component
    cleaned: list[tuple[str, bool]] = []

    def counted(raw: str, allow_hash: bool) -> str:
        cleaned.append((raw, allow_hash))
        return clean(raw, allow_hash)

    monkeypatch.setattr(botocore.useragent, "sanitize_user_agent_string_component", counted)
    client = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    header = client._user_agent_creator.to_string()
    patcher = Patcher()
    install_user_agent_cache(patcher)
    try:
        cleaned.clear()
        headers = [client._user_agent_creator.to_string() for _ in range(3)]
        answers = [
            botocore.useragent.sanitize_user_agent_string_component("md/a b#c", allow)
            for allow in (True, True, False)
        ]
    finally:
        patcher.restore()

    assert headers == [header] * 3
    assert answers == [clean("md/a b#c", True)] * 2 + [clean("md/a b#c", False)]
    assert cleaned and len(cleaned) == len(set(cleaned))
