"""The trained head: scikit-learn does the fitting and the calibration; this module only wires it up.

* A logistic regression over the backbone's standardised features, with the labels plus one "other" class fed
  with pictures of neither (the bundled open-set negatives).
* Temperature scaling (``CalibratedClassifierCV(method="temperature")``) fitted on the validation split, so that
  a confidence of 0.73 means about 73 % right.
* The numpy twin of the served graph (``served_probabilities``) to score the validation split without running
  the backbone again; the built ONNX graph is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imageflow.endpoint.labels import LabelMap
from imageflow.training.backbone import Extracted
from imageflow.training.graph import Gate


@dataclass(frozen=True)
class HeadParams:
    regularisation: float = 0.03  # LogisticRegression's C: smaller is a stronger L2 penalty
    max_iter: int = 3000


def fit_head(features: np.ndarray, targets: np.ndarray, params: HeadParams) -> object:
    """Standardise, then a multinomial logistic regression (lbfgs: deterministic for the same data)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=params.regularisation, max_iter=params.max_iter))
    pipeline.fit(features, targets)
    return pipeline


def fit_inverse_temperature(pipeline: object, features: np.ndarray, targets: np.ndarray) -> float:
    """scikit-learn's temperature scaling of the fitted head on held-out data; returns 1/T."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import KFold

    # a frozen head is not refitted, so the folds only order its predictions: two plain folds work for any
    # class sizes, where the default stratified five need five images of every class
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipeline), method="temperature", cv=KFold(n_splits=2))
    calibrated.fit(features, targets)
    return float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def zero_shot_probabilities(logits: np.ndarray, label_map: LabelMap) -> np.ndarray:
    probs = softmax(logits)
    return np.stack([probs[:, list(idx)].sum(axis=1) for idx in label_map.class_indices], axis=1)


def served_probabilities(
    pipeline: object,
    extracted: Extracted,
    *,
    num_labels: int,
    inverse_temperature: float,
    zero_shot: LabelMap | None,
    gate: Gate | None,
) -> np.ndarray:
    """What the served graph outputs, computed from already extracted backbone outputs."""
    scores = pipeline.decision_function(extracted.features)  # type: ignore[attr-defined]
    trained = softmax(inverse_temperature * scores)[:, :num_labels]
    if zero_shot is None or gate is None:
        return trained
    weight = gate.weight(extracted.detail)[:, None]
    return trained + weight * (zero_shot_probabilities(extracted.logits, zero_shot) - trained)
