"""The closed loop through the real CLI, at a small scale: the command sequence of issue 11's check.

approve zero-shot -> run -> review export -> (stand-in labellers) -> review import -> retrain -> run again.
The retrain is the retrainModel state machine in-process, with a real training job process; the data are
small (40 base images, 20 negatives) so that it takes seconds, not minutes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imageflow.cli import main
from imageflow.registry.store import Registry
from imageflow.review.queue import ReviewQueue
from imageflow.review.stand_in_labeller import main as stand_in_labellers
from imageflow.training.data import load_dataset

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "datasets" / "cifar100-bicycle-motorcycle"
LABELS = ("bicycle", "motorcycle")


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Disjoint slices of the bundled split: a tiny base, images to review, images for afterwards; negatives."""
    examples = sorted(load_dataset(BUNDLED, LABELS, for_training=False).train, key=lambda e: e.sha256)
    by_label = {label: [e for e in examples if e.label == label] for label in (0, 1)}
    base = tmp_path / "base"
    (base / "train").mkdir(parents=True)
    (base / "train_lst").mkdir()
    lines = []
    for label, items in by_label.items():
        for e in items[:20]:
            shutil.copy(e.path, base / "train" / e.path.name)
            lines.append(f"{len(lines)}\t{label}\t{e.path.name}")
    (base / "train_lst" / "train.lst").write_text("\n".join(lines) + "\n")
    folders = {}
    for name, part in (("first", slice(20, 24)), ("second", slice(24, 27))):
        for label, items in by_label.items():
            folder = tmp_path / name / LABELS[label]
            folder.mkdir(parents=True, exist_ok=True)
            for e in items[part]:
                shutil.copy(e.path, folder / e.path.name)
        folders[name] = tmp_path / name
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    for path in sorted((REPO / "datasets" / "open-set-negatives" / "train").glob("*.png"))[:20]:
        shutil.copy(path, negatives / path.name)
    return {"base": base, "negatives": negatives, **folders}


def test_low_confidence_images_come_back_labelled_and_a_retrained_version_is_served(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGEFLOW_REGISTRY", str(tmp_path / "registry"))  # approvals here must not leak
    queue = ReviewQueue.open()

    assert main(["models", "approve", "zero-shot"]) == 0
    monkeypatch.setenv("IMAGEFLOW_RETRAIN_TRIGGER", "on")
    assert main(["run", str(data["first"]), "--out", str(tmp_path / "run1"), "-q", "--table-rows", "0"]) == 0
    # the alarm's rule fires over this run (nearly all low confidence) and starts retrainModel, whose guard
    # (retrainMinNewLabels) ends it early: nothing is labelled yet
    said = capsys.readouterr().err
    assert "starting retrainModel" in said and "ended early: NotEnoughNewLabels: 0 newly labelled" in said
    monkeypatch.setenv("IMAGEFLOW_RETRAIN_TRIGGER", "off")
    first = [json.loads(line) for line in (tmp_path / "run1" / "results.jsonl").read_text().splitlines()]
    low = [r for r in first if r["outcome"] == "low_confidence"]
    assert len(low) >= 6 and len(queue.records()) == len(low)  # the queue outlives the run, on disk

    manifest = tmp_path / "job.manifest"
    assert main(["review", "export", "--out", str(manifest)]) == 0
    refs = [json.loads(line)["source-ref"] for line in manifest.read_text().splitlines()]
    assert len(refs) == len(set(refs)) == len(low)  # each low-confidence image exactly once
    output = tmp_path / "job-output.manifest"
    assert stand_in_labellers([str(manifest), "--labels-from", str(data["first"]), "--out", str(output)]) == 0
    assert main(["review", "import", str(output), "--base", str(data["base"])]) == 0

    capsys.readouterr()
    assert main(["retrain", "--negatives", str(data["negatives"])]) == 0
    said = capsys.readouterr().out
    registry = Registry.open()
    served = registry.approved()
    assert served is not None and served.version not in ("zero-shot", "cifar100-default"), said
    assert "approved and served" in said and served.record["ModelMetrics"]["validation"]["accuracy"] > 0.5
    last_run = json.loads((queue.root / "retrain" / "last-run.json").read_text())
    assert last_run["dataset"] == "v1" and last_run["reviewed_images"] == str(len(low))
    messages = [json.loads(line) for line in (queue.root / "retrain" / "notifications.jsonl").read_text().splitlines()]
    assert messages[-1]["Subject"] == "imageflow retraining finished" and "candidate" in messages[-1]["Message"]

    # the next run serves the new version: far more images pass than with the zero-shot head
    assert main(["run", str(data["second"]), "--out", str(tmp_path / "run2"), "-q", "--table-rows", "0"]) == 0
    second = [json.loads(line) for line in (tmp_path / "run2" / "results.jsonl").read_text().splitlines()]
    assert sum(r["outcome"] == "passed" for r in second) > sum(r["outcome"] == "passed" for r in first)

    # a second retrain with no new labels, started as the alarm would (guards on), ends early and says why
    assert main(["retrain", "--min-new-labels", "1"]) == 0
    assert "NotEnoughNewLabels: 0 newly labelled" in capsys.readouterr().out
