"""The evaluation set in the repo and the command that scores the triage against its labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from tourniquet.intake.normalize import normalize
from tourniquet_cli.evaluate_cmd import DEFAULT_SET, LABELS, evaluate
from tourniquet_cli.main import app


def test_the_set_holds_at_least_thirty_labelled_findings_across_sources_and_labels():
    items = [json.loads(path.read_text()) for path in sorted(DEFAULT_SET.glob("*.json"))]

    assert len(items) >= 30
    assert set(Counter(item["label"] for item in items)) == set(LABELS)
    sources = {normalize(item["event"]).source for item in items}  # type: ignore[union-attr]
    assert sources == {"guardduty", "securityhub", "cloudwatch", "grafana", "alertmanager"}
    assert all(item["why"] for item in items)


def test_the_report_counts_every_finding_once_and_names_each_miss():
    report = evaluate()
    figures = report.as_json()

    assert sum(figures["analyst_action_required"].values()) == figures["findings"] == len(report.scored)
    assert set(figures["median_risk"]) == set(LABELS)
    misses = {miss["finding"] for miss in figures["misses"]}
    assert misses == {s.name for s in report.scored if s.required != (s.label == "true_positive")}


def test_drills_never_ask_for_an_analyst_however_they_score():
    report = evaluate()

    drills = [s for s in report.scored if s.label == "drill"]
    assert drills and not any(s.required for s in drills)


def test_the_command_prints_the_figures():
    result = CliRunner().invoke(app, ["triage-eval", "--json"])

    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    assert figures == evaluate().as_json()


def test_an_unlabelled_finding_is_refused_naming_the_file(tmp_path: Path):
    (tmp_path / "odd.json").write_text(json.dumps({"label": "maybe", "event": {}, "why": ""}))

    result = CliRunner().invoke(app, ["triage-eval", str(tmp_path)])

    assert result.exit_code == 2
    assert "odd.json" in result.stderr
