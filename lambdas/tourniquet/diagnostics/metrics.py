"""The api_rate diagnostic (read-only): an hour of API call counts, and of an error metric when one is named.

Call counts come from the AWS/Usage namespace (``CallCount`` with Type=API, Resource=<API>, Service=<service>,
Class=None). An error metric is usually a CloudTrail metric filter, which publishes without dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tourniquet import aws, store

LOOKBACK = timedelta(hours=1)
PERIOD_SECONDS = 300
# An hour in five-minute periods is twelve points per metric, one page; the bound guards against a loop.
MAX_PAGES = 5
_USAGE_NAMESPACE = "AWS/Usage"

# Label names that say which API the alert is about: ours first, then the AWS/Usage alarm dimensions.
_SERVICE_LABELS = ("service", "Service")
_API_LABELS = ("api", "Resource")
_ERROR_NAMESPACE_LABEL = "error_namespace"
_ERROR_METRIC_LABEL = "error_metric"


@dataclass(frozen=True)
class ApiMetrics:
    service: str
    api: str
    error_namespace: str | None = None
    error_metric: str | None = None


def from_labels(labels: Mapping[str, str]) -> ApiMetrics | None:
    """The API (and error metric) the alert's labels name, or None when they name no service and API."""
    service = next((labels[name] for name in _SERVICE_LABELS if labels.get(name)), None)
    api = next((labels[name] for name in _API_LABELS if labels.get(name)), None)
    if not service or not api:
        return None
    namespace = labels.get(_ERROR_NAMESPACE_LABEL) or None
    metric = labels.get(_ERROR_METRIC_LABEL) or None
    if namespace and metric:
        return ApiMetrics(service, api, namespace, metric)
    return ApiMetrics(service, api)


def read(target: ApiMetrics, now: datetime) -> dict[str, Any]:
    """Per-5-minute sums over the last hour, summarized per metric."""
    start = now - LOOKBACK
    queries: list[dict[str, Any]] = [
        _query(
            "calls",
            _USAGE_NAMESPACE,
            "CallCount",
            {"Type": "API", "Resource": target.api, "Service": target.service, "Class": "None"},
        )
    ]
    if target.error_namespace and target.error_metric:
        queries.append(_query("errors", target.error_namespace, target.error_metric, {}))
    values: dict[str, list[float]] = {query["Id"]: [] for query in queries}
    client = aws.client("cloudwatch")
    token: str | None = None
    for _ in range(MAX_PAGES):
        request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": now}
        if token:
            request["NextToken"] = token
        page = client.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            values[result["Id"]].extend(float(value) for value in result.get("Values", []))
        token = page.get("NextToken")
        if not token:
            break
    summary: dict[str, Any] = {
        "service": target.service,
        "api": target.api,
        "window": {"start": store.iso(start), "end": store.iso(now)},
        "period_seconds": PERIOD_SECONDS,
        "calls": _stats(values["calls"]),
    }
    if "errors" in values:
        summary["errors"] = {
            "namespace": target.error_namespace,
            "metric": target.error_metric,
            **_stats(values["errors"]),
        }
    return summary


def headline(summary: Mapping[str, Any]) -> str:
    calls = summary["calls"]
    line = f"{summary['service']} {summary['api']}: "
    if not calls["datapoints"]:
        line += "no call data in the last hour"
    else:
        line += f"max {calls['max']} / avg {calls['avg']} calls per 5 min"
    errors = summary.get("errors")
    if errors and errors["datapoints"]:
        line += f"; errors max {errors['max']} per 5 min"
    return line


def _query(query_id: str, namespace: str, metric: str, dimensions: Mapping[str, str]) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            },
            "Period": PERIOD_SECONDS,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def _stats(values: list[float]) -> dict[str, Any]:
    # Whole numbers: the timeline (DynamoDB) takes no floats, and these are counts of calls or errors.
    if not values:
        return {"datapoints": 0, "max": None, "avg": None, "total": 0}
    return {
        "datapoints": len(values),
        "max": round(max(values)),
        "avg": round(sum(values) / len(values)),
        "total": round(sum(values)),
    }
