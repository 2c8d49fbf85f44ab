"""Reading alert files: JSON, with or without a UTF-8 byte order mark, refused in one line when unusable.

Light on purpose: the runtime's intake is imported only when a file is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AlertFileError(Exception):
    """An input file that cannot be read as an alert; the message names the file and the problem."""


@dataclass(frozen=True)
class Delivery:
    """One alert to run: a whole EventBridge event goes through the deployed rules, as in AWS; an alert
    split out of a webhook body or a multi-alert delivery starts the workflow directly, as the webhook and
    dispatcher functions do."""

    event: dict[str, Any]
    via_rules: bool


def read_alerts(path: Path) -> list[Delivery]:
    """The alerts in a file (a webhook body or a multi-finding event holds several)."""
    from tourniquet.errors import InvalidAlert  # noqa: PLC0415 - the intake loads only to read a file
    from tourniquet.intake.normalize import parts  # noqa: PLC0415

    data = read_alert(path)
    try:
        found = parts(data)
        for part in found:
            part.parse()  # unusable input is refused here, before a sandbox starts
    except InvalidAlert as exc:
        raise AlertFileError(f"{path}: {exc}") from exc
    if len(found) == 1 and found[0].event == data:
        return [Delivery(data, via_rules=True)]
    return [Delivery(part.event, via_rules=False) for part in found]


def read_alert(path: Path) -> dict[str, Any]:
    """The JSON object in the file, refused when the webhook would refuse it too."""
    from tourniquet.intake.webhook import unusable  # noqa: PLC0415 - the intake loads only to read a file

    data = load_json(path)
    if not isinstance(data, dict):
        raise AlertFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    # What the webhook refuses, the workflow could not carry either: deep nesting (copying the alert
    # recurses), lone surrogates, numbers beyond a double.
    problem = unusable(data)
    if problem is not None:
        error = problem.body["error"]
        where = f" (at {error['field']})" if error["field"] != "body" else ""
        raise AlertFileError(f"{path}: {error['message']}{where}")
    return data


def load_json(path: Path) -> Any:
    """The file's JSON value; a byte order mark before it is allowed (editors on Windows write one)."""
    from tourniquet.intake.webhook import MAX_DEPTH  # noqa: PLC0415

    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise AlertFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise AlertFileError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise AlertFileError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise AlertFileError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise AlertFileError(
            f"{path}: the body nests objects or arrays over {MAX_DEPTH} levels deep"
        ) from exc
