"""``tourniquet triage-eval [DIR] [--json]``: score the deterministic triage against a labelled set.

Each file of the set (``evaluation/triage/`` by default) holds one finding: ``{"label", "why", "event",
"diagnostics"}``. The label says what an analyst judged: ``true_positive`` (someone must act), ``benign``
(noise) or ``drill`` (a sample finding). The verdict's ``analyst_action_required`` should be true exactly for
the true positives. The report is the confusion matrix for ``analyst_action_required`` and the median risk
per label, with every miss named. Offline: no AWS, no sandbox.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from tourniquet_cli.options import refuse

Label = Literal["true_positive", "benign", "drill"]
LABELS: tuple[Label, ...] = ("true_positive", "benign", "drill")
DEFAULT_SET = Path(__file__).resolve().parent.parent / "evaluation" / "triage"
# The set's findings are in scope wherever they are: the plan must be the one a deployment would make.
_IN_SCOPE = {"SCOPE_ACCOUNTS": ("*",), "SCOPE_REGIONS": ("eu-west-1", "us-east-1", "us-west-2")}


@dataclass(frozen=True)
class Scored:
    name: str
    label: Label
    risk: int
    required: bool

    @property
    def expected(self) -> bool:
        return self.label == "true_positive"


@dataclass(frozen=True)
class Report:
    scored: tuple[Scored, ...]

    @property
    def matrix(self) -> dict[str, int]:
        """``analyst_action_required`` against the label: true/false positives and negatives."""
        count = {"true_positive": 0, "false_positive": 0, "true_negative": 0, "false_negative": 0}
        for item in self.scored:
            if item.expected:
                count["true_positive" if item.required else "false_negative"] += 1
            else:
                count["false_positive" if item.required else "true_negative"] += 1
        return count

    @property
    def medians(self) -> dict[str, float]:
        return {
            label: statistics.median(s.risk for s in self.scored if s.label == label)
            for label in LABELS
            if any(s.label == label for s in self.scored)
        }

    @property
    def misses(self) -> list[Scored]:
        return [s for s in self.scored if s.required != s.expected]

    def as_json(self) -> dict[str, Any]:
        matrix = self.matrix
        flagged = matrix["true_positive"] + matrix["false_positive"]
        expected = matrix["true_positive"] + matrix["false_negative"]
        return {
            "findings": len(self.scored),
            "labels": {label: sum(s.label == label for s in self.scored) for label in LABELS},
            "analyst_action_required": matrix,
            "precision": round(matrix["true_positive"] / flagged, 3) if flagged else None,
            "recall": round(matrix["true_positive"] / expected, 3) if expected else None,
            "median_risk": self.medians,
            "misses": [
                {"finding": s.name, "label": s.label, "risk": s.risk, "analyst_action_required": s.required}
                for s in self.misses
            ],
        }


class UnusableItem(Exception):
    """A file of the set that is no labelled finding; the message names the file."""


def evaluate(directory: Path = DEFAULT_SET) -> Report:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise UnusableItem(f"{directory}: no findings (*.json)")
    return Report(tuple(_score(path) for path in files))


def _score(path: Path) -> Scored:
    # The runtime loads when the set is scored, not for `--help`.
    from tourniquet.errors import InvalidAlert  # noqa: PLC0415
    from tourniquet.intake.model import Alert  # noqa: PLC0415
    from tourniquet.intake.normalize import normalize  # noqa: PLC0415
    from tourniquet.playbooks.plan import make_plan  # noqa: PLC0415
    from tourniquet.settings import Settings  # noqa: PLC0415
    from tourniquet.state import Diagnostic  # noqa: PLC0415
    from tourniquet.triage import score  # noqa: PLC0415

    try:
        item = json.loads(path.read_text())
        label = item["label"]
        alert = normalize(item["event"])
        diagnostics = tuple(Diagnostic.model_validate(d) for d in item.get("diagnostics") or ())
    except (OSError, ValueError, KeyError, TypeError, InvalidAlert) as exc:
        raise UnusableItem(f"{path.name}: {exc}") from exc
    if label not in LABELS:
        raise UnusableItem(f"{path.name}: label {label!r} is not one of {', '.join(LABELS)}")
    if not isinstance(alert, Alert):
        raise UnusableItem(f"{path.name}: the event opens no incident ({type(alert).__name__})")
    verdict = score.verdict(
        alert, diagnostics, make_plan(alert, diagnostics, Settings.model_validate(_IN_SCOPE))
    )
    return Scored(path.stem, label, verdict.risk_score, verdict.analyst_action_required)


DirectoryArgument = Annotated[Path, typer.Argument(help="The labelled set: one JSON finding per file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")]


def register(app: typer.Typer) -> None:
    app.command("triage-eval")(triage_eval)


def triage_eval(directory: DirectoryArgument = DEFAULT_SET, as_json: JsonOption = False) -> None:
    """Score the triage against a labelled set: the confusion matrix for analyst_action_required and the
    median risk per label."""
    try:
        report = evaluate(directory)
    except UnusableItem as exc:
        refuse(str(exc))
    figures = report.as_json()
    if as_json:
        typer.echo(json.dumps(figures))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console()
    matrix = report.matrix
    table = Table(title=f"analyst_action_required on {figures['findings']} labelled findings")
    for column in ("", "predicted: required", "predicted: not required"):
        table.add_column(column)
    table.add_row("labelled: true positive", str(matrix["true_positive"]), str(matrix["false_negative"]))
    table.add_row("labelled: benign or drill", str(matrix["false_positive"]), str(matrix["true_negative"]))
    console.print(table)
    console.print(f"precision {figures['precision']}, recall {figures['recall']}")
    medians = Table(title="median risk per label")
    medians.add_column("label")
    medians.add_column("findings")
    medians.add_column("median risk")
    for label, median in report.medians.items():
        medians.add_row(label, str(figures["labels"][label]), f"{median:g}")
    console.print(medians)
    for miss in report.misses:
        console.print(
            f"miss: {miss.name} ({miss.label}, risk {miss.risk}): "
            f"analyst_action_required={str(miss.required).lower()}"
        )
