"""Pure pieces of training: calibration error, scores, the detail gate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imageflow.training.graph import Gate
from imageflow.training.metrics import confusion_matrix, expected_calibration_error, per_class, score


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident() -> None:
    confidence = np.array([0.8] * 10)
    assert expected_calibration_error(confidence, np.array([True] * 8 + [False] * 2)) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.99] * 4), np.array([True, False, False, False])) == pytest.approx(
        0.74
    )


def test_scores_count_passes_and_accuracy_among_them() -> None:
    probabilities = np.array([[0.9, 0.05], [0.2, 0.75], [0.4, 0.3], [0.8, 0.1]])
    s = score(probabilities, np.array([0, 1, 1, 1]), threshold=0.73)
    assert (s.accuracy, s.pass_share, s.accuracy_among_passed) == (0.5, 0.75, pytest.approx(2 / 3))
    nothing = score(np.array([[0.1, 0.2]]), np.array([1]))
    assert math.isnan(nothing.accuracy_among_passed) and nothing.as_dict()["accuracy_among_passed"] is None


def test_confusion_and_per_class_figures() -> None:
    matrix = confusion_matrix(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2)
    assert matrix.tolist() == [[1, 1], [0, 2]]
    figures = per_class(matrix, ("bicycle", "motorcycle"))
    assert figures["bicycle"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert figures["motorcycle"]["precision"] == pytest.approx(2 / 3)


def test_the_gate_is_five_percent_at_the_low_anchor_and_ninety_five_at_the_high_one() -> None:
    gate = Gate.between(0.011, 0.0275)
    weights = gate.weight(np.array([0.011, 0.0275, 0.005, 0.1]))
    assert weights[:2] == pytest.approx([0.05, 0.95])
    assert weights[2] < 0.01 and weights[3] > 0.99
    with pytest.raises(ValueError, match="0 < low < high"):
        Gate.between(0.02, 0.01)
