"""Which API an alert's labels name for the api_rate diagnostic, and its headline, without AWS."""

from __future__ import annotations

from tourniquet.diagnostics import metrics


def test_our_labels_name_the_service_and_api():
    assert metrics.from_labels({"service": "EC2", "api": "RunInstances"}) == metrics.ApiMetrics(
        "EC2", "RunInstances"
    )


def test_aws_usage_alarm_dimensions_name_the_service_and_api():
    labels = {"Service": "DynamoDB", "Resource": "Query", "Type": "API", "Class": "None"}

    assert metrics.from_labels(labels) == metrics.ApiMetrics("DynamoDB", "Query")


def test_error_metric_needs_both_namespace_and_name():
    half = metrics.from_labels({"service": "EC2", "api": "RunInstances", "error_metric": "Throttles"})
    whole = metrics.from_labels(
        {"service": "EC2", "api": "RunInstances", "error_namespace": "CT", "error_metric": "Throttles"}
    )

    assert half == metrics.ApiMetrics("EC2", "RunInstances")
    assert whole == metrics.ApiMetrics("EC2", "RunInstances", "CT", "Throttles")


def test_labels_without_service_or_api_name_nothing():
    assert metrics.from_labels({"service": "EC2"}) is None
    assert metrics.from_labels({"api": "RunInstances", "service": ""}) is None
    assert metrics.from_labels({}) is None


def test_headline_without_error_data_leaves_errors_out():
    summary = {
        "service": "EC2",
        "api": "RunInstances",
        "calls": {"datapoints": 4, "max": 90, "avg": 30, "total": 120},
        "errors": {"datapoints": 0, "max": None, "avg": None, "total": 0},
    }

    assert metrics.headline(summary) == "EC2 RunInstances: max 90 / avg 30 calls per 5 min"
