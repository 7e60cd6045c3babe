"""``train`` end to end on a small subset: the version directory, its metadata, its graph, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from imageflow.endpoint.model import ModelLoadError, load_model_dir, preprocess
from imageflow.paths import REPO_ROOT, SAMPLES_DIR
from imageflow.training.train import TrainConfig, train

OPEN_SET_PHOTOS = REPO_ROOT / "datasets" / "open-set-photos"
NON_VEHICLE_SAMPLES = ("astronaut.png", "chelsea.png", "coffee.png", "china.jpg", "flower.jpg", "grace_hopper.jpg")


def test_the_version_directory_holds_the_contract_files(small_version: Path) -> None:
    assert {p.name for p in small_version.iterdir()} == {"model.onnx", "head.onnx", "labels.json", "metadata.json"}
    assert json.loads((small_version / "labels.json").read_text()) == {"labels": ["bicycle", "motorcycle"]}
    session = ort.InferenceSession(str(small_version / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert (inp.name, inp.shape[1:]) == ("image", [3, 224, 224])
    assert out.name == "probabilities"
    batch = np.concatenate([preprocess((SAMPLES_DIR / n).read_bytes()) for n in ("chelsea.png", "dog.jpg")])
    probabilities = session.run(None, {"image": batch})[0]
    assert probabilities.shape == (2, 2)
    assert np.all(probabilities >= 0) and np.all(probabilities.sum(axis=1) <= 1 + 1e-5)


def test_metadata_records_data_hyperparameters_seed_metrics_parent_and_time(small_version: Path) -> None:
    metadata = json.loads((small_version / "metadata.json").read_text())
    assert metadata["seed"] == 3
    assert metadata["parent"] is None
    assert metadata["created"].endswith("Z")
    assert len(metadata["data"]["digest_sha256"]) == 64
    assert metadata["data"]["counts"] == {
        "train": {"bicycle": 19, "motorcycle": 19},
        "validation": {"bicycle": 5, "motorcycle": 5},
    }
    assert metadata["data"]["negatives"]["train"] + metadata["data"]["negatives"]["validation"] == 20
    assert metadata["hyperparameters"]["regularisation_C"] == 0.01
    validation = metadata["metrics"]["validation"]
    assert set(validation) == {"before_calibration", "after_calibration"}
    assert 0 <= validation["after_calibration"]["ece"] <= 1
    assert metadata["calibration"]["method"] == "temperature"
    assert metadata["backbone"]["file"] == "mobilenet_v2.onnx"
    assert set(metadata["timings_seconds"]) >= {"extract_features", "fit_head", "total"}


def test_full_size_non_vehicle_photos_stay_below_the_threshold(small_version: Path) -> None:
    classifier = load_model_dir(small_version, threads=1)
    photos = [SAMPLES_DIR / n for n in NON_VEHICLE_SAMPLES] + sorted(OPEN_SET_PHOTOS.glob("*.jpg"))
    best = {p.name: max(classifier.classify(p.read_bytes())) for p in photos}
    assert all(value < 0.73 for value in best.values()), best


def test_full_size_vehicle_photos_still_pass_with_the_right_label(small_version: Path) -> None:
    classifier = load_model_dir(small_version, threads=1)
    for name, label in (("motorcycle_left.png", 1), ("motorcycle_right.png", 1), ("bicycle_crop.png", 0)):
        probabilities = classifier.classify((SAMPLES_DIR / name).read_bytes())
        assert int(np.argmax(probabilities)) == label and max(probabilities) >= 0.73, (name, probabilities)


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed(
    small_version: Path, small_data: Path, small_negatives: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    train(small_data, again, TrainConfig(seed=3, negatives=small_negatives, threads=1))
    assert (again / "head.onnx").read_bytes() == (small_version / "head.onnx").read_bytes()
    assert (again / "model.onnx").read_bytes() == (small_version / "model.onnx").read_bytes()


def test_a_head_only_version_is_assembled_from_the_shipped_backbone(small_version: Path, tmp_path: Path) -> None:
    head_only = tmp_path / "head-only"
    shutil.copytree(small_version, head_only, ignore=shutil.ignore_patterns("model.onnx"))
    image = (SAMPLES_DIR / "motorcycle_left.png").read_bytes()
    assembled = load_model_dir(head_only, threads=1).classify(image)
    assert assembled == pytest.approx(load_model_dir(small_version, threads=1).classify(image), abs=1e-6)
    metadata = json.loads((head_only / "metadata.json").read_text())
    metadata["backbone"]["sha256"] = "0" * 64
    (head_only / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="was trained on 0000000000000000"):
        load_model_dir(head_only)


def test_a_directory_that_is_not_a_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model_dir(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match=r"labels\.json does not exist"):
        load_model_dir(tmp_path)


def test_the_shipped_default_version_serves_cifar_images_confidently() -> None:
    from imageflow.registry.store import BUILTIN_DIR, SHIPPED_DEFAULT

    classifier = load_model_dir(BUILTIN_DIR / SHIPPED_DEFAULT, threads=1)
    bundled = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"
    rows = [line.split("\t") for line in (bundled / "train_lst" / "train.lst").read_text().splitlines()[::50]]
    right = [int(np.argmax(classifier.classify((bundled / "train" / r[2]).read_bytes()))) == int(r[1]) for r in rows]
    assert sum(right) >= 0.9 * len(rows)
