"""Classification figures from per-label probabilities: accuracy, pass share at the threshold, calibration.

Probabilities are the served ones, one column per label in label order; rows may sum to less than 1 (what is
left is "neither"). The prediction is the best label, its probability the confidence, as the workflow's
threshold step sees them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.73
ECE_BINS = 10


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - mean confidence|, weighted by share."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(float(correct[members].mean()) - float(confidence[members].mean()))
    return float(total)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Per confidence bin: its range, image count, mean confidence and accuracy (for the reliability diagram)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": int(members.sum()),
                "confidence": float(confidence[members].mean()) if members.any() else float("nan"),
                "accuracy": float(correct[members].mean()) if members.any() else float("nan"),
            }
        )
    return rows


@dataclass(frozen=True)
class Scores:
    """The figures a version is judged by on one labelled set."""

    images: int
    accuracy: float
    pass_share: float
    accuracy_among_passed: float
    ece: float
    threshold: float

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready: a figure that does not exist (no image passed) is None, not NaN."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def score(probabilities: np.ndarray, truth: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> Scores:
    """Accuracy, share passing ``threshold``, accuracy among those, and ECE."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(truth)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == truth
    passed = confidence >= threshold
    return Scores(
        images=len(truth),
        accuracy=float(correct.mean()) if len(truth) else float("nan"),
        pass_share=float(passed.mean()) if len(truth) else float("nan"),
        accuracy_among_passed=float(correct[passed].mean()) if passed.any() else float("nan"),
        ece=expected_calibration_error(confidence, correct),
        threshold=threshold,
    )


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, num_labels: int) -> np.ndarray:
    """rows: true label, columns: predicted label."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision and recall per label from a confusion matrix."""
    result = {}
    for i, name in enumerate(labels):
        predicted = matrix[:, i].sum()
        actual = matrix[i, :].sum()
        result[name] = {
            "precision": float(matrix[i, i] / predicted) if predicted else float("nan"),
            "recall": float(matrix[i, i] / actual) if actual else float("nan"),
            "support": int(actual),
        }
    return result


def open_set_pass_share(probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Share of images of no label whose best probability still reaches the threshold (should be 0)."""
    if len(probabilities) == 0:
        return float("nan")
    return float((np.asarray(probabilities).max(axis=1) >= threshold).mean())
