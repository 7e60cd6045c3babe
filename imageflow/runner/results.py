"""One outcome per input: how a finished execution reads to a person and in the results file.

``passed``         the execution succeeded: the model is confident (label, confidence).
``low_confidence`` it failed with ``THRESHOLD_CONFIDENCE_NOT_MET``; the label and confidence
                   the model did give are read back from the execution history.
``error``          anything else: the execution's error name (``NotAnImageError``,
                   ``States.Timeout``...) and cause, or an exception in the runner itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from rich.table import Table

PASSED = "passed"
LOW_CONFIDENCE = "low_confidence"
ERROR = "error"
OUTCOMES = (PASSED, LOW_CONFIDENCE, ERROR)
LOW_CONFIDENCE_ERROR = "THRESHOLD_CONFIDENCE_NOT_MET"
# what to call an execution that ended without an error name
_STATUS_ERRORS = {"TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted", "RUNNING": "ExecutionStillRunning"}
_STYLES = {PASSED: "green", LOW_CONFIDENCE: "yellow", ERROR: "red"}


@dataclass
class Outcome:
    """One line of the results file."""

    source: str
    outcome: str
    s3_uri: str | None = None
    label: str | None = None
    confidence: float | None = None
    inferences: list[float] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    duration_seconds: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def _body_with_inferences(document: Any) -> Mapping[str, Any] | None:
    """The ``body`` holding ``inferences`` in a handler result or a lambda:invoke result."""
    if not isinstance(document, Mapping):
        return None
    for candidate in (document, document.get("Payload")):
        if isinstance(candidate, Mapping):
            body = candidate.get("body")
            if isinstance(body, Mapping) and body.get("inferences"):
                return body
    return None


def prediction_from_history(events: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The latest body with inferences recorded in an execution history (classify's result)."""
    for event in reversed(events):
        for details_key in ("stateExitedEventDetails", "taskSucceededEventDetails", "stateEnteredEventDetails"):
            details = event.get(details_key)
            if not details:
                continue
            raw = details.get("output", details.get("input"))
            try:
                body = _body_with_inferences(json.loads(raw)) if isinstance(raw, str) else None
            except json.JSONDecodeError:
                body = None
            if body is not None:
                return body
    return None


def _duration(description: Mapping[str, Any]) -> float | None:
    start, stop = description.get("startDate"), description.get("stopDate")
    if isinstance(start, datetime) and isinstance(stop, datetime):
        return round((stop - start).total_seconds(), 4)
    return None


def _fill_prediction(outcome: Outcome, body: Mapping[str, Any] | None) -> None:
    if not body:
        return
    inferences = body.get("inferences")
    if isinstance(inferences, list):
        outcome.inferences = [float(value) for value in inferences]
    if isinstance(body.get("label"), str):
        outcome.label = body["label"]
    if isinstance(body.get("confidence"), int | float):
        outcome.confidence = float(body["confidence"])


def outcome_from_execution(
    source: str,
    s3_uri: str | None,
    description: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] | None = None,
) -> Outcome:
    """Turn a ``DescribeExecution`` answer (plus history, for low confidence) into an outcome."""
    status = description.get("status")
    outcome = Outcome(
        source=source,
        outcome=ERROR,
        s3_uri=s3_uri,
        execution_name=description.get("name"),
        execution_arn=description.get("executionArn"),
        duration_seconds=_duration(description),
    )
    if status == "SUCCEEDED":
        outcome.outcome = PASSED
        try:
            output = json.loads(description.get("output") or "null")
        except json.JSONDecodeError:
            output = None
        _fill_prediction(outcome, _body_with_inferences(output))
        return outcome
    outcome.error = description.get("error") or _STATUS_ERRORS.get(str(status), f"Execution{str(status).title()}")
    outcome.cause = description.get("cause")
    if outcome.error == LOW_CONFIDENCE_ERROR:
        outcome.outcome = LOW_CONFIDENCE
        _fill_prediction(outcome, prediction_from_history(history or []))
    return outcome


def outcome_from_exception(source: str, exc: BaseException, **known: Any) -> Outcome:
    """An error outcome for an input whose run failed inside this program, not the workflow."""
    return Outcome(source=source, outcome=ERROR, error=type(exc).__name__, cause=str(exc) or repr(exc), **known)


class ResultsWriter:
    """Stream outcomes to a JSON-lines file as they arrive (nothing is kept in memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = path.open("w", encoding="utf-8")
        self.counts: Counter[str] = Counter()

    def write(self, outcome: Outcome) -> None:
        self._handle.write(outcome.to_json() + "\n")
        self._handle.flush()  # a crash or Ctrl-C still leaves every finished image recorded
        self.counts[outcome.outcome] += 1

    @property
    def written(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_results(path: Path) -> list[Outcome]:
    """Load a results file written by ``ResultsWriter``."""
    with path.open(encoding="utf-8") as handle:
        return [Outcome(**json.loads(line)) for line in handle if line.strip()]


def outcome_text(outcome: Outcome) -> str:
    if outcome.outcome == ERROR:
        return f"error: {outcome.error}"
    return outcome.outcome.replace("_", " ")


def summary_table(outcomes: Iterable[Outcome], *, total: int, limit: int | None = None) -> Table:
    """A table of image, label, confidence and outcome; at most ``limit`` rows, the rest counted."""
    table = Table(title="imageflow run", show_lines=False)
    table.add_column("image", overflow="fold")
    table.add_column("label")
    table.add_column("confidence", justify="right")
    table.add_column("outcome")
    shown = 0
    for outcome in outcomes:
        if limit is not None and shown >= limit:
            break
        confidence = "" if outcome.confidence is None else f"{outcome.confidence:.3f}"
        style = _STYLES.get(outcome.outcome, "")
        table.add_row(outcome.source, outcome.label or "", confidence, f"[{style}]{outcome_text(outcome)}[/]")
        shown += 1
    if shown < total:
        table.caption = f"{total - shown} more rows in the results file"
    return table


def counts_line(counts: Mapping[str, int]) -> str:
    """``11 images: 3 passed, 7 low confidence, 1 error``."""
    total = sum(counts.values())
    parts = [f"{counts.get(name, 0)} {name.replace('_', ' ')}" for name in OUTCOMES]
    return f"{total} image{'s' if total != 1 else ''}: {', '.join(parts)}"
