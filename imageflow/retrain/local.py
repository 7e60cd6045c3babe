"""``imageflow retrain`` offline: the retraining steps against the local registry and review queue.

1. The dataset version: the latest one ``imageflow review import`` built (base data + reviewed images).
2. The training job: the SageMaker container entry (``python -m imageflow.training.container``, what
   ``imageflow-container train`` runs) in a separate process, on a SageMaker-shaped folder (channels
   ``train``/``train_lst``, ``hyperparameters.json``, ``model/``, ``output/failure``).
3. Evaluation: the candidate and the approved version on the SAME validation images (the dataset's seeded
   validation split), through their served graphs.
4. Registration as a model package version with both sets of metrics.
5. The promotion gate (``imageflow.registry.approval.regressions``): pass -> Approved, which makes it the
   served version for the next ``imageflow run`` / ``imageflow serve``; fail -> PendingManualApproval with
   the reason.
6. A notification with the evaluation summary, in every case (``<queue>/retrain/notifications.jsonl``; the
   alarm topic on AWS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageflow.review.dataset import latest, read_info
from imageflow.review.queue import ReviewQueue

LABELS = ("bicycle", "motorcycle")


class RetrainError(RuntimeError):
    """Retraining stopped; ``name`` is the error, the message what to do."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass
class RetrainSettings:
    """The stage parameters of retraining (serverless.yml: retrainMinNewLabels, retrainMinIntervalMinutes...)."""

    min_new_labels: int = 0
    min_interval_minutes: float = 0.0
    seed: int = 0
    hyperparameters: dict[str, str] = field(default_factory=lambda: {"flip": "true"})


@dataclass
class RetrainOutcome:
    retrained: bool
    reason: str
    dataset: str | None = None
    version: str | None = None
    approved: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.retrained:
            return f"no retraining: {self.reason}"
        return f"version {self.version} from dataset {self.dataset}: {'APPROVED and served' if self.approved else 'PENDING'}; {self.reason}"


def _state_file(queue: ReviewQueue) -> Path:
    return queue.root / "retrain" / "last-run.json"


def read_last_run(queue: ReviewQueue) -> dict[str, Any] | None:
    file = _state_file(queue)
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def check_start(queue: ReviewQueue, settings: RetrainSettings, now: datetime) -> tuple[Path, dict[str, Any]]:
    """The dataset to train on, or ``RetrainError`` saying why a run must not start (the same rule as on AWS)."""
    dataset = latest(queue)
    if dataset is None:
        raise RetrainError(
            "NoDatasetVersion", f"no dataset version in {queue.datasets_dir}: import labels first (imageflow review import)"
        )
    info = read_info(dataset)
    last = read_last_run(queue)
    new_labels = info["reviewed_images"] - (last or {}).get("reviewed_images", 0)
    if new_labels < settings.min_new_labels:
        raise RetrainError(
            "NotEnoughNewLabels",
            f"{new_labels} newly labelled image(s) since the last retraining, fewer than the minimum "
            f"{settings.min_new_labels} (stage parameter retrainMinNewLabels)",
        )
    if last and settings.min_interval_minutes:
        since = (now - datetime.fromisoformat(last["finished"])).total_seconds() / 60
        if since < settings.min_interval_minutes:
            raise RetrainError(
                "RetrainTooSoon",
                f"the last retraining finished {since:.0f} min ago, less than the minimum interval "
                f"{settings.min_interval_minutes:g} min (stage parameter retrainMinIntervalMinutes)",
            )
    return dataset, {**info, "new_labels": new_labels}


def run_training_job(dataset: Path, hyperparameters: dict[str, str], root: Path) -> Path:
    """The training job: the container entry in its own process on a SageMaker-shaped folder; returns model/."""
    channels = root / "input" / "data"
    channels.mkdir(parents=True)
    for channel in ("train", "train_lst"):
        (channels / channel).symlink_to((dataset / channel).resolve(), target_is_directory=True)
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
    log = root / "output" / "training.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        code = subprocess.call(
            [sys.executable, "-m", "imageflow.training.container", "--root", str(root)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    if code != 0:
        failure = root / "output" / "failure"
        reason = failure.read_text(encoding="utf-8").strip() if failure.is_file() else f"exit status {code}"
        raise RetrainError("TrainingJobFailed", f"the training job failed: {reason} (log: {log})")
    return root / "model"


def retrain(queue: ReviewQueue, settings: RetrainSettings, registry: Any = None) -> RetrainOutcome:
    """Run the retraining steps once; a run that must not start returns ``retrained=False`` with the reason."""
    from imageflow.registry.approval import register_with_approval
    from imageflow.registry.store import Registry
    from imageflow.training.data import load_dataset

    started = time.perf_counter()
    now = datetime.now(UTC)
    try:
        dataset, info = check_start(queue, settings, now)
    except RetrainError as exc:
        outcome = RetrainOutcome(False, f"{exc.name}: {exc}")
        notify(queue, outcome)
        return outcome
    registry = registry or Registry.open()
    approved_before = registry.approved()
    hyperparameters = {"seed": str(settings.seed), **settings.hyperparameters}
    if approved_before is not None:
        hyperparameters.setdefault("parent", approved_before.version)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="imageflow-training-job-") as folder:
        model_dir = run_training_job(dataset, hyperparameters, Path(folder))
        seconds["training_job"] = round(time.perf_counter() - started, 1)
        validation = load_dataset(dataset, LABELS, seed=settings.seed).validation
        package, regressions = register_with_approval(registry, model_dir, validation)
    seconds["trigger_to_served"] = round(time.perf_counter() - started, 1)
    metrics = package.record.get("ModelMetrics", {})
    outcome = RetrainOutcome(
        True,
        package.record["ApprovalDescription"],
        dataset=dataset.name,
        version=package.version,
        approved=not regressions,
        metrics={"dataset": info, **metrics},
        seconds=seconds,
    )
    state = _state_file(queue)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "dataset": dataset.name,
                "reviewed_images": info["reviewed_images"],
                "version": package.version,
                "approved": outcome.approved,
                "finished": datetime.now(UTC).isoformat(),
            }
        ),
        encoding="utf-8",
    )
    notify(queue, outcome)
    return outcome


def notify(queue: ReviewQueue, outcome: RetrainOutcome) -> None:
    """What the alarm topic receives on AWS: one JSON message per run, retrained or not."""
    folder = queue.root / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    message = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": outcome.summary(),
        "retrained": outcome.retrained,
        "version": outcome.version,
        "approved": outcome.approved,
        "validation": outcome.metrics.get("validation"),
        "approved_version_on_same_validation": outcome.metrics.get("approved_version_on_same_validation"),
        "seconds": outcome.seconds,
    }
    with (folder / "notifications.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(message, default=str) + "\n")
