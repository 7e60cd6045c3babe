"""Validation and interpretation of class probabilities (pure; no AWS)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.common.errors import (
    InvalidEndpointResponseError,
    InvalidInferencesError,
    ProbabilityOutOfRangeError,
)


def _is_number(value: object) -> bool:
    # bool is an int subclass; True is not a probability.
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_probabilities(values: object, labels: Sequence[str] | None = None) -> list[float]:
    """Return ``values`` as floats if it is a non-empty list of finite numbers in [0, 1].

    Raises InvalidInferencesError for a wrong shape or type, ProbabilityOutOfRangeError for
    a number outside [0, 1] (or NaN/inf).
    """
    if not isinstance(values, list):
        raise InvalidInferencesError(f"inferences must be a list of probabilities, got {type(values).__name__}")
    if not values:
        raise InvalidInferencesError("inferences is empty: the classify step produced no probabilities")
    for index, value in enumerate(values):
        if not _is_number(value):
            raise InvalidInferencesError(f"inferences[{index}] is {value!r}, not a number")
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ProbabilityOutOfRangeError(f"inferences[{index}] = {value!r} is not a probability in [0, 1]")
    if labels is not None and len(values) != len(labels):
        raise InvalidInferencesError(
            f"inferences has {len(values)} probabilities but there are {len(labels)} labels ({', '.join(labels)})"
        )
    return [float(value) for value in values]


def parse_endpoint_response(body: bytes, labels: Sequence[str]) -> list[float]:
    """Parse the endpoint's JSON answer: a list of probabilities in label order.

    Any deviation is the endpoint's fault, so it is reported as InvalidEndpointResponseError.
    """
    preview = body[:120].decode("utf-8", "replace")
    try:
        values = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidEndpointResponseError(f"The endpoint answered non-JSON: {preview!r}") from None
    try:
        return validate_probabilities(values, labels)
    except (InvalidInferencesError, ProbabilityOutOfRangeError) as exc:
        raise InvalidEndpointResponseError(f"The endpoint's answer is unusable: {exc} (answer: {preview!r})") from None


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


def best_prediction(probabilities: Sequence[float], labels: Sequence[str]) -> Prediction:
    """The most probable label (first one on ties, as argmax does)."""
    index = max(range(len(probabilities)), key=probabilities.__getitem__)
    label = labels[index] if index < len(labels) else f"class_{index}"
    return Prediction(label, probabilities[index])


def meets_threshold(probabilities: Sequence[float], threshold: float) -> bool:
    """The original rule: pass when any probability reaches the threshold."""
    return any(value >= threshold for value in probabilities)


_PROBABILITIES_MARK = "; probabilities "


def low_confidence_detail(best: Prediction, probabilities: Sequence[float], threshold: float, image: str) -> str:
    """Why a result is not confident, with every class probability (a failed execution keeps only this text)."""
    return (
        f"best confidence {best.confidence:.4f} ({best.label}) is below the threshold {threshold:g} for {image}"
        f"{_PROBABILITIES_MARK}{json.dumps(list(probabilities))}"
    )


def parse_low_confidence_detail(cause: str) -> tuple[str | None, float | None, list[float]]:
    """The label, confidence and probabilities a ``low_confidence_detail`` text carries (``None``/[] if absent)."""
    head, mark, tail = cause.rpartition(_PROBABILITIES_MARK)
    probabilities: list[float] = []
    if mark:
        try:
            values = json.loads(tail)
            probabilities = [float(v) for v in values] if isinstance(values, list) else []
        except (ValueError, TypeError):
            probabilities = []
    text = head if mark else cause
    label = confidence = None
    start = text.find("best confidence ")
    if start >= 0:
        number, _, rest = text[start + len("best confidence ") :].partition(" (")
        try:
            confidence = float(number)
            label = rest.partition(") ")[0] or None
        except ValueError:
            confidence = None
    if probabilities:
        confidence = max(probabilities)
    return label, confidence, probabilities
