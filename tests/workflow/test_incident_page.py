"""`tourniquet simulate --open` in a real headless browser: a person presses Approve on the incident page,
the signed click goes through the real callback and the workflow contains the incident; the HTML report
of the sandbox's table (from the CLI, and linked from the page) shows its timeline.

One scenario, in the workflow modules' shared sandbox. It needs Debian's chromium and chromium-driver
(`.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from typer.testing import CliRunner, Result

from sandbox.core import Sandbox
from tests.workflow.runner import Runner
from tourniquet_cli import incident_page, scenario
from tourniquet_cli.main import app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 60

# CI sets it: there a missing browser fails the run instead of skipping the test unnoticed.
REQUIRE_BROWSER = "TOURNIQUET_REQUIRE_BROWSER"
NEEDS = "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    if os.environ.get(REQUIRE_BROWSER):
        pytest.fail(f"{REQUIRE_BROWSER} is set, and the incident page's test needs {NEEDS}", pytrace=False)
    pytest.skip(f"needs {NEEDS}", allow_module_level=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_person_approves_on_the_incident_page_and_watches_it_contained(
    sandbox: Sandbox, browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    @contextmanager
    def pooled(_decision: str, **_options: object) -> Iterator[Sandbox]:
        yield sandbox

    monkeypatch.setattr(scenario, "sandbox_for", pooled)
    opened: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(incident_page.webbrowser, "open", opened.put)
    alert = tmp_path / "finding.json"
    alert.write_text(json.dumps(Runner(sandbox).event()))
    posted_before = len(sandbox.slack.messages())
    finished: list[Result] = []
    cli = threading.Thread(
        target=lambda: finished.append(CliRunner().invoke(app, ["simulate", "--open", "--json", str(alert)]))
    )
    cli.start()
    try:
        url = opened.get(timeout=WAIT_SECONDS)
        assert url.startswith("http://127.0.0.1:")
        browser.get(url)
        wait = WebDriverWait(browser, WAIT_SECONDS)
        approve = (By.CSS_SELECTOR, "#card [data-action=approve]")
        wait.until(expected_conditions.text_to_be_present_in_element(approve, "Approve"))
        # The page shows the card as Slack does; it was given no button value and no task token.
        state = browser.execute_script("return fetch('/state').then(r => r.text())")
        assert '"value"' not in state
        assert "task_token" not in state
        wait.until(expected_conditions.element_to_be_clickable(approve)).click()
        # Slack asks to confirm an approval; so does the page.
        wait.until(expected_conditions.element_to_be_clickable((By.ID, "confirm-yes"))).click()
        # The page shows the incident contained: when the workflow ends, the CLI keeps the page up until the
        # page has shown the finished run.
        status = browser.find_element(By.ID, "status")
        wait.until(lambda _driver: status.get_attribute("data-status") == "contained")
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "card"), "Approved"))
    finally:
        if cli.is_alive():
            # A failure above leaves the CLI waiting for a person: deny, so that it ends.
            for message in sandbox.slack.messages()[posted_before:]:
                if any(element.get("action_id") == "deny" for _, element in message.buttons()):
                    sandbox.click(message, "deny")
        cli.join(timeout=WAIT_SECONDS)
    [result] = finished
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["status"] == "contained"
    assert outcome["approval"] == {"decision": "approve", "by": sandbox.approver.id}

    # The report of the sandbox's table: from the CLI, and on the page, where its timeline chart opens.
    monkeypatch.setenv("TABLE_NAME", sandbox.deployment.table_name())
    written = CliRunner().invoke(app, ["report", "--table", sandbox.deployment.table_name()])
    assert written.exit_code == 0, written.output
    assert f"| {outcome['incident_id']} | " in written.stdout
    # The CLI's page stopped with the CLI; the report link is the same on a page of the same sandbox.
    with incident_page.IncidentPage(sandbox) as page:
        browser.get(page.url)
        browser.get(browser.find_element(By.ID, "report").get_attribute("href"))
        chart = browser.find_element(By.CSS_SELECTOR, f"svg.timeline[aria-label*='{outcome['incident_id']}']")
        diagnostics = chart.find_elements(By.CSS_SELECTOR, "rect.diagnostic")
        assert len(diagnostics) >= 2
        assert len(chart.find_elements(By.CSS_SELECTOR, "rect.wait")) == 1
        assert "approval wait" in chart.text
