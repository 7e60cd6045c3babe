"""Probability validation and the threshold rule, including property-based tests."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.common.errors import InvalidEndpointResponseError, InvalidInferencesError, ProbabilityOutOfRangeError
from handlers.common.inferences import (
    best_prediction,
    meets_threshold,
    parse_endpoint_response,
    validate_probabilities,
)

LABELS = ("bicycle", "motorcycle")
probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(st.lists(probability, min_size=1, max_size=20))
def test_any_list_of_probabilities_is_accepted_unchanged(values: list[float]) -> None:
    assert validate_probabilities(values) == values


@given(
    st.lists(probability, min_size=1, max_size=5),
    st.one_of(
        st.floats(max_value=-1e-12),
        st.floats(min_value=1.0 + 1e-9),
        st.just(math.nan),
        st.just(math.inf),
    ),
    st.data(),
)
def test_a_single_value_outside_0_1_is_rejected(values: list[float], bad: float, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(values)))
    values.insert(position, bad)
    with pytest.raises(ProbabilityOutOfRangeError, match=rf"inferences\[{position}\]"):
        validate_probabilities(values)


@given(st.one_of(st.none(), st.text(), st.dictionaries(st.text(), probability), st.booleans(), probability))
def test_non_lists_are_rejected(value: object) -> None:
    with pytest.raises(InvalidInferencesError, match="must be a list"):
        validate_probabilities(value)


@given(st.lists(st.one_of(st.text(), st.booleans(), st.none(), st.lists(probability)), min_size=1))
def test_non_numbers_are_rejected(values: list[object]) -> None:
    with pytest.raises(InvalidInferencesError, match="not a number"):
        validate_probabilities(values)


def test_empty_and_wrong_length_are_rejected() -> None:
    with pytest.raises(InvalidInferencesError, match="empty"):
        validate_probabilities([])
    with pytest.raises(InvalidInferencesError, match="3 probabilities but there are 2 labels"):
        validate_probabilities([0.1, 0.2, 0.3], LABELS)


@given(st.lists(probability, min_size=2, max_size=2), st.floats(min_value=0.01, max_value=1.0))
def test_threshold_rule_is_any_probability_reaching_it(values: list[float], threshold: float) -> None:
    assert meets_threshold(values, threshold) == (max(values) >= threshold)


def test_threshold_is_inclusive() -> None:
    assert meets_threshold([0.73, 0.1], 0.73)
    assert not meets_threshold([0.7299, 0.1], 0.73)


@given(st.lists(probability, min_size=2, max_size=2))
def test_endpoint_answer_round_trips(values: list[float]) -> None:
    assert parse_endpoint_response(json.dumps(values).encode(), LABELS) == values


@pytest.mark.parametrize(
    "answer",
    [b"<html>oops</html>", b'{"predictions": [0.1, 0.9]}', b"[0.1]", b"[1.2, 0.1]", b'["a", "b"]', b"\xff\xfe"],
)
def test_unusable_endpoint_answers_are_the_endpoints_fault(answer: bytes) -> None:
    with pytest.raises(InvalidEndpointResponseError, match="endpoint"):
        parse_endpoint_response(answer, LABELS)


def test_best_prediction_names_the_label() -> None:
    best = best_prediction([0.2, 0.8], LABELS)
    assert (best.label, best.confidence) == ("motorcycle", 0.8)
