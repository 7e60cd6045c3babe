"""The trainer as a SageMaker training job (``imageflow-container train`` calls ``main(Path("/opt/ml"))``).

SageMaker's contract for a training container, rooted at ``root`` (``/opt/ml`` in a job):

* channels are folders under ``input/data/<channel>/``. The lst layout's four channels (``train``,
  ``train_lst``, optional ``validation`` and ``validation_lst``) side by side ARE ``imageflow train``'s DATA
  layout, so ``input/data`` is read as DATA. A folder-per-class dataset can come as one channel ``training``.
  An optional channel ``negatives`` replaces the bundled open-set negatives; an optional channel ``baseline``
  holds the approved version's ``model.tar.gz``, scored on the same validation images (``baseline:*`` metrics);
* hyperparameters arrive as strings in ``input/config/hyperparameters.json`` (see ``HYPERPARAMETERS``);
* the model version directory is written to ``model/`` (SageMaker tars it to ``model.tar.gz``);
* on failure the reason goes to ``output/failure`` and the exit status is 1;
* metrics go to the log, one per line, for the job's ``MetricDefinitions``::

      {"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}
      {"Name": "validation:pass_share", "Regex": "validation:pass_share=([0-9.]+)"}
      {"Name": "validation:accuracy_among_passed", "Regex": "validation:accuracy_among_passed=([0-9.]+)"}
      {"Name": "validation:ece", "Regex": "validation:ece=([0-9.]+)"}
      {"Name": "validation:ece_before_calibration", "Regex": "validation:ece_before_calibration=([0-9.]+)"}
      {"Name": "open_set:pass_share", "Regex": "open_set:pass_share=([0-9.]+)"}
      {"Name": "train:seconds", "Regex": "train:seconds=([0-9.]+)"}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT_ENV = "IMAGEFLOW_OPT_ML"
DEFAULT_ROOT = Path("/opt/ml")
METRIC_NAMES = (
    "validation:accuracy",
    "validation:pass_share",
    "validation:accuracy_among_passed",
    "validation:ece",
    "validation:ece_before_calibration",
    "open_set:pass_share",
    "train:seconds",
)


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or its string does not parse; the message names it."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _labels(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if len(names) < 2:
        raise ValueError(f"{text!r} names fewer than two labels")
    return names


# name -> (TrainConfig field, parser)
HYPERPARAMETERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "seed": ("seed", int),
    "labels": ("labels", _labels),
    "validation_share": ("validation_share", float),
    "C": ("regularisation", float),
    "max_iter": ("max_iter", int),
    "gate_ratio": ("gate_ratio", float),
    "zero_shot": ("use_zero_shot", _bool),
    "threshold": ("threshold", float),
    "version": ("version", str),
    "parent": ("parent", str),
    "flip": ("test_time_flip", _bool),
}


def parse_hyperparameters(raw: dict[str, Any]) -> dict[str, Any]:
    """SageMaker passes every value as a string; turn them into TrainConfig fields."""
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if name.startswith(("sagemaker_", "_tuning")):
            continue  # set by SageMaker itself or the tuner, not by the user
        if name not in HYPERPARAMETERS:
            raise HyperparameterError(f"unknown hyperparameter {name!r} (known: {', '.join(sorted(HYPERPARAMETERS))})")
        field, parse = HYPERPARAMETERS[name]
        try:
            values[field] = parse(str(text))
        except ValueError as exc:
            raise HyperparameterError(f"hyperparameter {name}={text!r}: {exc}") from None
    return values


def main(root: Path) -> int:
    """Run one training job against a SageMaker-shaped tree; returns the exit status."""
    from imageflow.training.train import DEFAULT_NEGATIVES, TrainConfig, train

    data_root = root / "input" / "data"
    model_dir = root / "model"
    try:
        config_file = root / "input" / "config" / "hyperparameters.json"
        raw = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        if not isinstance(raw, dict):
            raise HyperparameterError(f"{config_file}: expected a JSON object of strings")
        settings = parse_hyperparameters(raw)
        data = data_root / "training" if (data_root / "training").is_dir() else data_root
        negatives = data_root / "negatives" if (data_root / "negatives").is_dir() else DEFAULT_NEGATIVES
        config = TrainConfig(negatives=negatives, **settings)
        print(f"training on {data} (negatives: {negatives}) with {settings or 'default hyperparameters'}", flush=True)
        result = train(data, model_dir, config, progress=_log_progress())
    except Exception as exc:
        return _fail(root, exc)
    _log_metrics(result.metadata)
    if (data_root / "baseline").is_dir():
        try:
            _evaluate_baseline(data_root / "baseline", result, model_dir)
        except Exception as exc:
            return _fail(root, exc)
    print(f"model written to {model_dir}", flush=True)
    return 0


def _evaluate_baseline(channel: Path, result: Any, model_dir: Path) -> None:
    """Score the approved version (channel ``baseline``: its model.tar.gz) on the candidate's validation images.

    The promotion gate compares both on the SAME images; printed as ``baseline:*`` metrics and kept with
    the candidate's in ``model/evaluation.json``.
    """
    import tarfile
    import tempfile

    import numpy as np

    from imageflow.registry.approval import probabilities_of
    from imageflow.training.metrics import score

    archives = sorted(channel.rglob("*.tar.gz"))
    with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
        if archives:
            with tarfile.open(archives[0]) as archive:
                archive.extractall(folder, filter="data")
            version_dir = Path(folder)
        else:
            version_dir = channel
        validation = result.dataset.validation
        truth = np.array([e.label for e in validation])
        threshold = result.metadata["hyperparameters"]["threshold"]
        baseline = score(probabilities_of(version_dir, validation), truth, threshold)
    candidate = score(result.validation_probabilities, truth, threshold)
    for side, scores in (("validation", candidate), ("baseline", baseline)):
        for name, value in scores.as_dict().items():
            if value is not None and name != "images":
                print(f"{side}:{name}={float(value):.6f};", flush=True)
        print(f"{side}:images={scores.images};", flush=True)
    evaluation = {
        "validation_images": len(validation),
        "candidate": candidate.as_dict(),
        "baseline": baseline.as_dict(),
    }
    (model_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")


def _log_progress() -> Callable[[str, int, int], None]:
    """No progress bar in a job's log: one line every 10 %."""
    last = [-1]

    def report(phase: str, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != last[0]:
            last[0] = tenth
            print(f"{phase}: {done}/{total}", flush=True)

    return report


def _log_metrics(metadata: dict[str, Any]) -> None:
    validation = metadata["metrics"]["validation"]
    after, before = validation["after_calibration"], validation["before_calibration"]
    values = {
        "validation:accuracy": after["accuracy"],
        "validation:pass_share": after["pass_share"],
        "validation:accuracy_among_passed": after["accuracy_among_passed"],
        "validation:ece": after["ece"],
        "validation:ece_before_calibration": before["ece"],
        "open_set:pass_share": metadata["metrics"]["open_set_negatives_validation"]["pass_share"],
        "train:seconds": metadata.get("timings_seconds", {}).get("total"),
    }
    for name in METRIC_NAMES:
        if values[name] is not None:
            print(f"{name}={float(values[name]):.6f};", flush=True)


def _fail(root: Path, exc: BaseException) -> int:
    """SageMaker shows output/failure as the job's FailureReason (first 1 KB)."""
    reason = f"{type(exc).__name__}: {exc}"
    print(f"training failed: {reason}", file=sys.stderr, flush=True)
    traceback.print_exc(file=sys.stderr)
    failure = root / "output" / "failure"
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(reason + "\n", encoding="utf-8")
    return 1


def cli(argv: list[str] | None = None) -> int:
    """``python -m imageflow.training.container [--root DIR]`` (root also from $IMAGEFLOW_OPT_ML)."""
    parser = argparse.ArgumentParser(prog="python -m imageflow.training.container", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT))
    return main(parser.parse_args(argv).root)


if __name__ == "__main__":
    sys.exit(cli())
