"""The error names the handlers raise and the names the state machine catches and retries agree."""

from __future__ import annotations

from handlers.common.errors import TRANSIENT_ERRORS, ThresholdConfidenceNotMetError, error_names
from imageflow.runner.definition import load_definition


def _catchers(state: dict) -> list[set[str]]:
    return [set(catcher["ErrorEquals"]) for catcher in state.get("Catch", [])]


def test_every_task_catches_every_handler_error_by_name() -> None:
    states = load_definition()["States"]
    expected = set(error_names()) - {"WorkflowError", ThresholdConfidenceNotMetError.__name__}
    for name in ("Serialize", "Classify", "Threshold"):
        caught = set().union(*_catchers(states[name]))
        assert expected <= caught, f"{name} does not catch {sorted(expected - caught)}"
        assert "States.ALL" not in caught, "a catch-all would hide the error name"


def test_low_confidence_ends_as_THRESHOLD_CONFIDENCE_NOT_MET() -> None:
    states = load_definition()["States"]
    low = [c for c in states["Threshold"]["Catch"] if c["ErrorEquals"] == ["ThresholdConfidenceNotMetError"]]
    assert low, "Threshold must catch the low-confidence error"
    # Every end of the low-confidence branch (review record written or not) fails with the same error name.
    ends, seen, todo = [], set(), [low[0]["Next"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        if state["Type"] == "Fail":
            ends.append(state)
        todo += [state["Next"]] if "Next" in state else []
        todo += [catcher["Next"] for catcher in state.get("Catch", [])]
    assert {end["Error"] for end in ends} == {"THRESHOLD_CONFIDENCE_NOT_MET"}
    assert {"Type": "Fail", "Error": "THRESHOLD_CONFIDENCE_NOT_MET", "CausePath": "$.detail.errorMessage"} in ends
    assert len(ends) == 2  # recorded for review, or "review record missing" in the cause


def test_transient_endpoint_errors_are_retried_with_backoff_and_jitter() -> None:
    classify = load_definition()["States"]["Classify"]
    retried = {name for retrier in classify["Retry"] for name in retrier["ErrorEquals"]}
    assert {cls.__name__ for cls in TRANSIENT_ERRORS} <= retried
    for retrier in classify["Retry"]:
        assert retrier["BackoffRate"] > 1 and retrier["JitterStrategy"] == "FULL"


def test_the_low_confidence_message_starts_with_the_original_error_name() -> None:
    assert str(ThresholdConfidenceNotMetError("best 0.5")).startswith("THRESHOLD_CONFIDENCE_NOT_MET: ")
