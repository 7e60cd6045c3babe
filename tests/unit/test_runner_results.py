"""Turning execution descriptions into outcomes, and writing/reading/formatting them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from imageflow.runner.results import (
    Outcome,
    ResultsWriter,
    counts_line,
    outcome_from_exception,
    outcome_from_execution,
    read_results,
    summary_table,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
BODY = {"s3_bucket": "b", "s3_key": "k", "inferences": [0.01, 0.96], "label": "motorcycle", "confidence": 0.96}


def _description(status: str, **extra: object) -> dict[str, object]:
    return {
        "name": "run-1",
        "executionArn": "arn:x",
        "status": status,
        "startDate": START,
        "stopDate": START + timedelta(seconds=0.25),
        **extra,
    }


def test_succeeded_is_passed_with_label() -> None:
    outcome = outcome_from_execution(
        "a.png", "s3://b/k", _description("SUCCEEDED", output=json.dumps({"statusCode": 200, "body": BODY}))
    )
    assert (outcome.outcome, outcome.label, outcome.confidence) == ("passed", "motorcycle", 0.96)
    assert outcome.inferences == [0.01, 0.96] and outcome.duration_seconds == 0.25


def test_low_confidence_reads_the_prediction_from_history() -> None:
    history = [
        {
            "type": "TaskStateExited",
            "stateExitedEventDetails": {"name": "Classify", "output": json.dumps({"body": BODY | {"confidence": 0.4}})},
        },
        {"type": "ExecutionFailed"},
    ]
    outcome = outcome_from_execution(
        "a.png", None, _description("FAILED", error="THRESHOLD_CONFIDENCE_NOT_MET", cause="below"), history
    )
    assert (outcome.outcome, outcome.error, outcome.confidence) == (
        "low_confidence",
        "THRESHOLD_CONFIDENCE_NOT_MET",
        0.4,
    )


def test_other_failures_are_errors_with_their_name() -> None:
    outcome = outcome_from_execution("a.txt", None, _description("FAILED", error="NotAnImageError", cause="not"))
    assert (outcome.outcome, outcome.error, outcome.cause) == ("error", "NotAnImageError", "not")
    assert outcome_from_execution("a", None, _description("TIMED_OUT")).error == "States.Timeout"


def test_exceptions_become_error_outcomes() -> None:
    outcome = outcome_from_exception("a.png", PermissionError("denied"), execution_name="n")
    assert (outcome.outcome, outcome.error, outcome.cause, outcome.execution_name) == (
        "error",
        "PermissionError",
        "denied",
        "n",
    )


def test_results_round_trip_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "results.jsonl"
    outcomes = [Outcome("a", "passed", label="bicycle", confidence=0.9), Outcome("b", "error", error="X")]
    with ResultsWriter(path) as writer:
        for outcome in outcomes:
            writer.write(outcome)
    assert read_results(path) == outcomes
    assert writer.written == 2
    assert counts_line(writer.counts) == "2 images: 1 passed, 0 low confidence, 1 error"


def test_summary_table_limits_rows() -> None:
    rows = [Outcome(f"img{i}.png", "low_confidence", label="bicycle", confidence=0.1) for i in range(5)]
    console = Console(width=100, record=True)
    console.print(summary_table(rows, total=5, limit=2))
    text = console.export_text()
    assert "img1.png" in text and "img2.png" not in text and "3 more rows" in text and "low confidence" in text
