"""The incident page's server: 127.0.0.1 only, and a press only from the page it served."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import pytest

from sandbox.core import Sandbox
from tourniquet_cli import incident_page
from tourniquet_cli.incident_page import PAGE_HEADER, IncidentPage, served
from tourniquet_cli.scenario import Progress


@pytest.fixture(scope="module")
def page() -> Iterator[IncidentPage]:
    # No execution is followed, so nothing asks the sandbox anything.
    with IncidentPage(cast(Sandbox, object())) as served:
        yield served


def request(
    page: IncidentPage, path: str, *, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], str]:
    data = json.dumps(body).encode() if body is not None else None
    sent = urllib.request.Request(page.url.rstrip("/") + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=5) as answer:
            return answer.status, dict(answer.headers.items()), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read().decode()


def press_headers(page: IncidentPage, **changes: str) -> dict[str, str]:
    return {"Content-Type": "application/json", PAGE_HEADER: page.nonce, **changes}


def test_the_page_is_served_on_the_loopback_address_with_its_own_script_only(page: IncidentPage):
    status, headers, html = request(page, "/")

    assert page.url.startswith("http://127.0.0.1:")
    assert status == 200
    assert f"script-src 'nonce-{page.nonce}'" in headers["Content-Security-Policy"]
    assert f'<script nonce="{page.nonce}">' in html


def test_a_press_from_the_page_is_handed_to_the_card_and_its_answer_returned(
    page: IncidentPage, monkeypatch: pytest.MonkeyPatch
):
    pressed: list[str] = []

    def press(action_id: str) -> tuple[int, str]:
        pressed.append(action_id)
        return 200, "approved by alice"

    monkeypatch.setattr(page, "press", press)

    status, _, body = request(page, "/press", body={"action_id": "approve"}, **press_headers(page))

    assert status == 200
    assert pressed == ["approve"]
    assert json.loads(body) == {"status": 200, "body": "approved by alice"}


def test_a_press_before_the_card_is_posted_is_told_there_is_none_yet(page: IncidentPage):
    status, _, body = request(page, "/press", body={"action_id": "approve"}, **press_headers(page))

    assert status == 200
    assert json.loads(body) == {"status": 409, "body": "there is no card to press yet"}


def test_the_page_is_not_served_to_a_rebound_name(page: IncidentPage):
    status, _, body = request(page, "/", Host="rebound.example:80")

    assert (status, body) == (403, "forbidden")


def test_every_answer_forbids_guessing_its_content_type(page: IncidentPage):
    for path in ("/", "/nowhere"):
        _, headers, _ = request(page, path)
        assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("length", ["many", "-5"])
def test_a_press_with_an_unreadable_length_is_refused(page: IncidentPage, length: str):
    connection = http.client.HTTPConnection(page.url.removeprefix("http://").rstrip("/"), timeout=5)
    connection.putrequest("POST", "/press")
    for name, value in press_headers(page).items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", length)
    connection.endheaders(b'{"action_id": "approve"}')

    answer = connection.getresponse()

    assert answer.status == 400
    assert json.loads(answer.read()) == {"error": "Content-Length must be a whole number of bytes"}
    connection.close()


@pytest.mark.parametrize(
    "changes",
    [
        {PAGE_HEADER: "guessed"},
        {"Content-Type": "text/plain"},
        {"Origin": "https://attacker.example"},
        {"Host": "rebound.example:80"},
    ],
    ids=["without the page's header", "as a simple form post", "from another site", "by a rebound name"],
)
def test_a_press_from_anywhere_else_is_refused(page: IncidentPage, changes: dict[str, str]):
    status, _, _ = request(page, "/press", body={"action_id": "approve"}, **press_headers(page, **changes))

    assert status == 403


def test_when_the_run_ends_the_page_stays_up_until_it_has_shown_how_it_ended(monkeypatch: pytest.MonkeyPatch):
    opened: list[str] = []
    monkeypatch.setattr(incident_page.webbrowser, "open", opened.append)
    monkeypatch.setattr(IncidentPage, "state", lambda self: {"incident_id": "inc-1", "finished": True})
    ended = threading.Event()

    def run() -> None:
        with served(cast(Sandbox, object()), Progress(), lambda _line: None):
            pass  # the run ends at once
        ended.set()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        while not opened:
            time.sleep(0.01)
        time.sleep(0.2)
        assert not ended.is_set()  # the page has not yet shown the finished run

        with urllib.request.urlopen(opened[0] + "state", timeout=5) as answer:
            assert json.loads(answer.read())["finished"] is True
    finally:
        runner.join(timeout=10)
    assert ended.is_set()


def test_a_page_nobody_reads_is_stopped_soon_after_the_run_ends(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(incident_page.webbrowser, "open", lambda _url: None)
    monkeypatch.setattr(incident_page, "FINAL_STATE_SECONDS", 0.3)
    began = time.monotonic()

    with served(cast(Sandbox, object()), Progress(), lambda _line: None) as page:
        url = page.url

    assert 0.3 <= time.monotonic() - began < 5
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
