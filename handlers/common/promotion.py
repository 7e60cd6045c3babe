"""The promotion gate: a candidate is promoted only if it does not regress against the approved version.

Both are scored on the SAME validation images. A regression is accuracy, pass share at the threshold, or
accuracy among passed images lower by more than ``TOLERANCE``, or an expected calibration error higher by
more than ``TOLERANCE``. Accuracy among passed is compared only when the approved version passed at least
``MIN_PASSED`` images ("1 of 1 right" is no figure to regress from). Shared by the local registry
(``imageflow.registry.approval``) and the retrainModel state machine (``handlers/retrain_policy.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

TOLERANCE = 0.01  # two images in 200: below what one retrain's noise moves
MIN_PASSED = 20
FIGURES = ("accuracy", "pass_share", "accuracy_among_passed")


def _value(scores: Mapping[str, float | None], name: str) -> float:
    value = scores.get(name)
    return float("nan") if value is None else float(value)


def regressions(
    candidate: Mapping[str, float | None], approved: Mapping[str, float | None], tolerance: float = TOLERANCE
) -> list[str]:
    """Human-readable reasons the candidate is worse; empty when it does not regress."""
    found = []
    approved_passed = _value(approved, "pass_share") * _value(approved, "images")
    for name in FIGURES:
        new, old = _value(candidate, name), _value(approved, name)
        if math.isnan(old):
            continue  # the approved version has no such figure (e.g. nothing passed): nothing to regress from
        if name == "accuracy_among_passed" and not approved_passed >= MIN_PASSED:
            continue
        if math.isnan(new) or new < old - tolerance:
            found.append(f"{name} {_fmt(new)} < approved {_fmt(old)}")
    new_ece, old_ece = _value(candidate, "ece"), _value(approved, "ece")
    if not math.isnan(old_ece) and (math.isnan(new_ece) or new_ece > old_ece + tolerance):
        found.append(f"ece {_fmt(new_ece)} > approved {_fmt(old_ece)}")
    return found


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
