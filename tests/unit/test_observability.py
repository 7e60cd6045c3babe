"""The threshold step's metrics (CloudWatch embedded metric format) and the handlers' JSON logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from handlers import threshold
from handlers.common.errors import ThresholdConfidenceNotMetError
from handlers.common.observability import logger

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:image-classification-dev-classify-image:run-1"


@pytest.fixture(autouse=True)
def _observable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)


class Context:
    aws_request_id = "req-1"
    function_name = "image-classification-dev-threshold"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:image-classification-dev-threshold"


def _event(inferences: list[float]) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "body": {"s3_bucket": "b", "s3_key": "k.png", "inferences": inferences},
        "correlation": {"execution_id": EXECUTION},
    }


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _emf(lines: list[dict[str, Any]]) -> dict[str, Any]:
    [record] = [line for line in lines if "_aws" in line]
    return record


def test_a_confident_result_publishes_its_confidence_and_a_met_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    threshold.handler(_event([0.1, 0.9]), Context())
    record = _emf(_json_lines(capsys.readouterr().out))
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ImageClassification"
    assert directive["Dimensions"] == [["service"]] and record["service"] == "image-classification"
    assert {m["Name"] for m in directive["Metrics"]} == {"BestConfidence", "ThresholdMet", "LowConfidence"}
    assert (record["BestConfidence"], record["ThresholdMet"], record["LowConfidence"]) == ([0.9], [1.0], [0.0])
    assert record["label"] == "motorcycle"


def test_a_low_confidence_result_is_still_measured_before_it_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ThresholdConfidenceNotMetError):
        threshold.handler(_event([0.3, 0.2]), Context())
    record = _emf(_json_lines(capsys.readouterr().out))
    assert (record["BestConfidence"], record["ThresholdMet"], record["LowConfidence"]) == ([0.3], [0.0], [1.0])


def test_logs_are_json_and_carry_the_execution_as_correlation_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=logger.name)
    threshold.handler(_event([0.1, 0.9]), Context())
    # Format the captured records with the Lambda logger's own formatter: the lines CloudWatch gets.
    logs = [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]
    assert logs, "the handler logs its decision"
    for line in logs:
        assert line["correlation_id"] == EXECUTION
        assert line["request_id"] == "req-1"
        assert line["s3_uri"] == "s3://b/k.png"
        assert line["service"] == "image-classification"
