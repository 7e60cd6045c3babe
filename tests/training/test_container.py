"""The trainer as a SageMaker training job, run as a process against a temporary /opt/ml-shaped tree."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import make_small_lst_dataset, make_small_negatives

pytestmark = pytest.mark.slow
METRIC_DEFINITIONS = {
    "validation:accuracy": r"validation:accuracy=([0-9.]+)",
    "validation:ece": r"validation:ece=([0-9.]+)",
    "open_set:pass_share": r"open_set:pass_share=([0-9.]+)",
}


def _opt_ml(root: Path, hyperparameters: dict[str, str]) -> Path:
    """/opt/ml as SageMaker lays it out: one folder per channel under input/data, strings in the config."""
    data = root / "input" / "data"
    make_small_lst_dataset(root / "staging", per_class=12)
    for channel in ("train", "train_lst"):
        shutil.copytree(root / "staging" / channel, data / channel)
    make_small_negatives(data / "negatives", count=8)
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return root


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imageflow.training.container", "--root", str(root)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_training_job_writes_the_model_and_logs_metrics_for_metric_definitions(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path / "opt-ml", {"seed": "5", "C": "0.02", "zero_shot": "true"})
    result = _run(root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in (root / "model").iterdir()} >= {"model.onnx", "labels.json", "metadata.json"}
    metadata = json.loads((root / "model" / "metadata.json").read_text())
    assert metadata["seed"] == 5 and metadata["hyperparameters"]["regularisation_C"] == 0.02
    for name, regex in METRIC_DEFINITIONS.items():
        match = re.search(regex, result.stdout)
        assert match, f"{name} not in the log"
        assert 0.0 <= float(match.group(1)) <= 1.0
    assert not (root / "output" / "failure").exists()


def test_a_bad_hyperparameter_fails_the_job_with_a_reason(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path / "opt-ml", {"seed": "five"})
    result = _run(root)
    assert result.returncode == 1
    assert (root / "output" / "failure").read_text().strip() == (
        "HyperparameterError: hyperparameter seed='five': invalid literal for int() with base 10: 'five'"
    )


def test_bad_data_fails_the_job_naming_the_lst_line(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path / "opt-ml", {})
    lst = root / "input" / "data" / "train_lst" / "train.lst"
    lst.write_text(lst.read_text() + "99\t7\tbicycle_s_000017.png\n")
    result = _run(root)
    assert result.returncode == 1
    reason = (root / "output" / "failure").read_text()
    assert reason.startswith("DatasetError: train_lst/train.lst line 25: label 7 is outside the label map")
