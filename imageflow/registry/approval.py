"""Automatic approval: a new version is approved only if it does not regress against the approved one.

Both are scored on the SAME labelled images (the new version's validation split), through their served graphs.
A regression is any of: accuracy, pass share at the threshold, or accuracy among passed images lower by more
than ``TOLERANCE``; or an expected calibration error higher by more than ``TOLERANCE``. Otherwise the version
stays ``PendingManualApproval`` and its record lists each regression. Accuracy among passed images is compared
only when the approved version passed at least ``MIN_PASSED`` images: the zero-shot head passes one or two
CIFAR images, and "1 of 1 right" is no figure to regress from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from handlers.common import promotion
from imageflow.registry.store import APPROVED, PENDING, ModelPackage, Registry
from imageflow.training.data import Example
from imageflow.training.metrics import DEFAULT_THRESHOLD, Scores, score

TOLERANCE = promotion.TOLERANCE
MIN_PASSED = promotion.MIN_PASSED


def regressions(candidate: Scores, approved: Scores, tolerance: float = TOLERANCE) -> list[str]:
    """Human-readable reasons the candidate is worse; empty when it does not regress (``handlers.common.promotion``)."""
    return promotion.regressions(candidate.as_dict(), approved.as_dict(), tolerance)


def probabilities_of(directory: Path, examples: Sequence[Example], threads: int | None = None) -> np.ndarray:
    """Run a version's served graph over labelled images."""
    from imageflow.endpoint.model import load_model_dir

    classifier = load_model_dir(directory, threads=threads)
    return np.array([classifier.classify(e.path.read_bytes()) for e in examples], dtype=np.float64)


def register_with_approval(
    registry: Registry,
    directory: Path,
    validation: Sequence[Example],
    *,
    candidate_probabilities: np.ndarray | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[ModelPackage, list[str]]:
    """Register ``directory``; approve it when it does not regress on ``validation``. Returns the regressions."""
    truth = np.array([e.label for e in validation])
    if candidate_probabilities is None:
        candidate_probabilities = probabilities_of(directory, validation)
    candidate = score(candidate_probabilities, truth, threshold)
    current = registry.approved()
    metrics: dict[str, object] = {"validation": candidate.as_dict(), "validation_images": len(validation)}
    if current is None:
        found: list[str] = []
        reason = "approved automatically: no version was approved before"
    else:
        baseline = score(probabilities_of(current.directory, validation), truth, threshold)
        metrics["approved_version"] = current.version
        metrics["approved_version_on_same_validation"] = baseline.as_dict()
        found = regressions(candidate, baseline)
        reason = (
            f"approved automatically: no regression against version {current.version} on the same "
            f"{len(validation)} validation images"
            if not found
            else f"pending: regresses against approved version {current.version} on the same "
            f"{len(validation)} validation images: " + "; ".join(found)
        )
    package = registry.register(directory, status=PENDING if found else APPROVED, reason=reason, metrics=metrics)
    return package, found
