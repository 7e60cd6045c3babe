"""``train``: labelled images -> a model version directory (transfer learning on the shipped MobileNetV2).

1. Read and check the data (lst or folder layout) and the open-set negatives.
2. Run the backbone once over every image (features, ImageNet logits, detail), with a progress callback.
3. Fit the head (labels + "other") on train; fit its temperature on validation (labels and held-out negatives).
4. Gate: the zero-shot head takes over for images with more detail than any training image.
5. Build the served graph (backbone + converted head, one ONNX model) and check it against the numpy twin.
6. Write model.onnx, head.onnx, labels.json and metadata.json (data digest and counts, hyperparameters, seed,
   validation metrics before and after calibration, parent version, creation time, timings).

Deterministic for a seed: the hold-outs are seeded, the solver (lbfgs) and onnxruntime's CPU kernels are not
random, and nothing depends on file order or the clock except ``created`` in metadata.json.
"""

from __future__ import annotations

import itertools
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imageflow.endpoint.labels import LabelMap, load_label_map
from imageflow.endpoint.paths import DEFAULT_MODEL_PATH
from imageflow.paths import MODELS_DIR, REPO_ROOT
from imageflow.training.backbone import Extracted, FeatureExtractor, load_backbone
from imageflow.training.data import (
    Dataset,
    Example,
    content_digest,
    load_dataset,
    read_image_folder,
    stratified_holdout,
)
from imageflow.training.graph import Gate, compose_served_model, trained_head
from imageflow.training.head import HeadParams, fit_head, fit_inverse_temperature, served_probabilities
from imageflow.training.metrics import DEFAULT_THRESHOLD, Scores, open_set_pass_share, score
from imageflow.training.versiondir import backbone_record, write_version

DEFAULT_NEGATIVES = REPO_ROOT / "datasets" / "open-set-negatives" / "train"
DEFAULT_LABELS = ("bicycle", "motorcycle")
OTHER = "other"
# agreement required between the ONNX graph and its numpy twin on validation images
_GRAPH_TOLERANCE = 1e-3


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why (bad settings, a graph that does not match)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the result (recorded in metadata.json as hyperparameters)."""

    labels: tuple[str, ...] | None = None
    seed: int = 0
    validation_share: float = 0.2
    regularisation: float = 0.01
    max_iter: int = 3000
    negatives: Path | None = DEFAULT_NEGATIVES
    negatives_validation_share: float = 0.2
    zero_shot_labels: Path | None = None  # None: a label map in models/labels/ with the same labels, if any
    use_zero_shot: bool = True
    gate_ratio: float = 2.5  # the zero-shot head has weight 0.95 at this multiple of the training images' detail
    threshold: float = DEFAULT_THRESHOLD
    batch_size: int = 8
    threads: int | None = None
    parent: str | None = None
    version: str | None = None
    backbone: Path = DEFAULT_MODEL_PATH
    # Mean of the image's and its mirror image's backbone outputs, in the served graph too (``load_backbone``).
    test_time_flip: bool = False

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "regularisation_C": self.regularisation,
            "max_iter": self.max_iter,
            "validation_share": self.validation_share,
            "negatives": _display(self.negatives) if self.negatives else None,
            "negatives_validation_share": self.negatives_validation_share,
            "zero_shot": self.use_zero_shot,
            "gate_ratio": self.gate_ratio,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "test_time_flip": self.test_time_flip,
        }


@dataclass
class TrainResult:
    directory: Path
    metadata: dict[str, Any]
    dataset: Dataset
    validation_probabilities: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _display(path: Path) -> str:
    path = Path(path).resolve()
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def find_zero_shot_map(labels: Sequence[str], explicit: Path | None = None) -> LabelMap | None:
    """The ImageNet label map for these labels: ``explicit``, else one in models/labels/ with equal labels."""
    found = zero_shot_map_file(labels, explicit)
    return load_label_map(found) if found else None


def zero_shot_map_file(labels: Sequence[str], explicit: Path | None = None) -> Path | None:
    """The label map file ``find_zero_shot_map`` uses, or None."""
    if explicit is not None:
        label_map = load_label_map(explicit)
        if tuple(label_map.labels) != tuple(labels):
            raise TrainingError(f"zero-shot label map {explicit} has labels {label_map.labels}, the data {labels}")
        return explicit
    for candidate in sorted((MODELS_DIR / "labels").glob("*.json")):
        if tuple(load_label_map(candidate).labels) == tuple(labels):
            return candidate
    return None


def train(data_dir: Path, out_dir: Path, config: TrainConfig, progress: Progress | None = None) -> TrainResult:
    """Train, calibrate, build and write one model version; returns its metadata and validation output."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    clock = started

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    labels = config.labels
    dataset = load_dataset(
        data_dir, labels or _default_labels(data_dir), validation_share=config.validation_share, seed=config.seed
    )
    num_labels = len(dataset.labels)
    negatives_train, negatives_val = _negatives(config, num_labels)
    zero_shot = find_zero_shot_map(dataset.labels, config.zero_shot_labels) if config.use_zero_shot else None
    lap("read_data")

    backbone = load_backbone(config.backbone, flip=config.test_time_flip)
    extractor = FeatureExtractor(backbone, threads=config.threads, batch_size=config.batch_size)
    groups = [list(dataset.train), list(dataset.validation), negatives_train, negatives_val]
    everything = [e for group in groups for e in group]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("extracting features", done, len(everything))

    extracted = extractor.extract([(e.path, e.origin) for e in everything], advance)
    bounds = np.cumsum([0, *(len(g) for g in groups)])
    train_x, val_x, neg_train_x, neg_val_x = (extracted.take(range(a, b)) for a, b in itertools.pairwise(bounds))
    lap("extract_features")

    train_y = np.array([e.label for e in dataset.train])
    val_y = np.array([e.label for e in dataset.validation])
    fit_x = Extracted.concat([train_x, neg_train_x])
    fit_y = np.concatenate([train_y, np.full(len(neg_train_x), num_labels)])
    pipeline = fit_head(fit_x.features, fit_y, HeadParams(config.regularisation, config.max_iter))
    lap("fit_head")

    calib_x = Extracted.concat([val_x, neg_val_x])
    calib_y = np.concatenate([val_y, np.full(len(neg_val_x), num_labels)])
    beta = fit_inverse_temperature(pipeline, calib_x.features, calib_y)
    gate = _gate(train_x.detail, config.gate_ratio) if zero_shot is not None else None
    lap("calibrate")

    def served(x: Extracted, inverse_temperature: float) -> np.ndarray:
        return served_probabilities(
            pipeline, x, num_labels=num_labels, inverse_temperature=inverse_temperature, zero_shot=zero_shot, gate=gate
        )

    before = score(served(val_x, 1.0), val_y, config.threshold)
    val_probabilities = served(val_x, beta)
    after = score(val_probabilities, val_y, config.threshold)
    open_set = {
        "images": len(neg_val_x),
        "pass_share_before_calibration": _finite(open_set_pass_share(served(neg_val_x, 1.0), config.threshold)),
        "pass_share": _finite(open_set_pass_share(served(neg_val_x, beta), config.threshold)),
    }
    lap("score")

    head = trained_head(pipeline, num_labels=num_labels, inverse_temperature=beta, zero_shot=zero_shot, gate=gate)
    model = compose_served_model(backbone, head)
    _check_graph(model, dataset.validation, val_probabilities, config.threads)
    lap("build_graph")

    created = datetime.now(UTC)
    digest = dataset.digest()
    metadata = {
        "version": config.version or f"trained-{created:%Y%m%dT%H%M%SZ}-{digest[:8]}",
        "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kind": "trained",
        "labels": list(dataset.labels),
        "parent": config.parent,
        "seed": config.seed,
        "hyperparameters": config.hyperparameters(),
        "data": _data_record(dataset, digest, negatives_train, negatives_val),
        "calibration": {"method": "temperature", "inverse_temperature": beta, "temperature": 1.0 / beta},
        "gate": None
        if gate is None
        else {
            "zero_shot_label_map": _display(zero_shot_map_file(dataset.labels, config.zero_shot_labels)),
            "slope": gate.slope,
            "midpoint_ln_detail": gate.midpoint,
            "training_detail_max": float(train_x.detail.max()),
        },
        "metrics": {
            "validation": {"before_calibration": before.as_dict(), "after_calibration": after.as_dict()},
            "open_set_negatives_validation": open_set,
        },
        "backbone": {**backbone_record(config.backbone), **({"test_time_flip": True} if config.test_time_flip else {})},
        "environment": _environment(),
    }
    write_version(out_dir, head=head, labels=dataset.labels, metadata=metadata, served=model)
    lap("write")
    timings["total"] = round(time.perf_counter() - started, 3)
    metadata["timings_seconds"] = timings
    from imageflow.training.versiondir import write_metadata

    write_metadata(out_dir, metadata)
    return TrainResult(out_dir, metadata, dataset, val_probabilities, timings)


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else value


def _default_labels(data_dir: Path) -> tuple[str, ...] | None:
    """lst data carries no names: the project's labels; a folder layout names its own."""
    return DEFAULT_LABELS if (Path(data_dir) / "train_lst").is_dir() else None


def _negatives(config: TrainConfig, label: int) -> tuple[list[Example], list[Example]]:
    if config.negatives is None:
        return [], []
    examples = read_image_folder(Path(config.negatives), label, REPO_ROOT)
    keep, held = stratified_holdout(examples, config.negatives_validation_share, config.seed)
    return keep, held


def _gate(train_detail: np.ndarray, ratio: float) -> Gate:
    if ratio <= 1.0:
        raise TrainingError(f"gate_ratio must be above 1, got {ratio}")
    low = float(train_detail.max())
    return Gate.between(low, low * ratio)


def _check_graph(model: Any, validation: Sequence[Example], expected: np.ndarray, threads: int | None) -> None:
    """The ONNX graph must give what the numpy twin computed (on a few validation images)."""
    from imageflow.endpoint.model import ImageClassifier

    classifier = ImageClassifier(
        Path("model.onnx"), labels=[str(i) for i in range(expected.shape[1])], threads=threads,
        model_bytes=model.SerializeToString(),
    )  # fmt: skip
    for i in range(min(8, len(validation))):
        got = np.array(classifier.classify(validation[i].path.read_bytes()))
        if not np.allclose(got, expected[i], atol=_GRAPH_TOLERANCE):
            raise TrainingError(
                f"the built ONNX graph gives {got.round(4).tolist()} for {validation[i].origin}, "
                f"the head computed {expected[i].round(4).tolist()}"
            )


def _data_record(dataset: Dataset, digest: str, negatives_train: list[Example], negatives_val: list[Example]) -> dict:
    counts = dataset.counts()
    return {
        "source": _display(dataset.root),
        "layout": dataset.layout,
        "digest_sha256": digest,
        "train_digest_sha256": content_digest(dataset.train, dataset.labels),
        "validation_digest_sha256": content_digest(dataset.validation, dataset.labels),
        "validation": dataset.validation_source,
        "counts": counts,
        "negatives": {
            "class": OTHER,
            "train": len(negatives_train),
            "validation": len(negatives_val),
            "digest_sha256": content_digest([*negatives_train, *negatives_val], [*dataset.labels, OTHER])
            if negatives_train
            else None,
        },
    }


def _environment() -> dict[str, str]:
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "onnx": onnx.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


def scores_from_metadata(metadata: dict[str, Any]) -> Scores | None:
    """The calibrated validation scores a version recorded, if any."""
    try:
        values = metadata["metrics"]["validation"]["after_calibration"]
        return Scores(**{k: float("nan") if v is None else v for k, v in values.items()})
    except (KeyError, TypeError):
        return None


__all__ = ["TrainConfig", "TrainResult", "TrainingError", "asdict", "train"]
