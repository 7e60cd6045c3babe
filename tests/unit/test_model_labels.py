"""Label map: sums class probabilities per label (never renormalised) and rejects malformed files clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imageflow.endpoint.labels import LabelMapError, load_class_names, load_label_map
from imageflow.endpoint.paths import DEFAULT_CLASS_NAMES_PATH, DEFAULT_LABELS_PATH

CLASSES = ["cat", "mountain bike", "tricycle", "moped", "motor scooter", "dog"]


def write_map(tmp_path: Path, data: object, classes: object = CLASSES) -> Path:
    (tmp_path / "classes.json").write_text(json.dumps(classes))
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def two_labels(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "class_names_file": "classes.json",
        "labels": [
            {"name": "bicycle", "imagenet_classes": ["mountain bike", "tricycle"]},
            {"name": "motorcycle", "imagenet_classes": ["moped", "motor scooter"]},
        ],
    }
    data.update(overrides)
    return data


def test_sums_are_per_label_in_order_and_not_renormalised(tmp_path: Path) -> None:
    label_map = load_label_map(write_map(tmp_path, two_labels()))
    assert label_map.labels == ("bicycle", "motorcycle")
    # a "cat" image: 90 % cat, the vehicle classes share the rest
    probs = np.array([0.90, 0.02, 0.01, 0.03, 0.01, 0.03])
    bicycle, motorcycle = label_map.apply(probs)
    assert bicycle == pytest.approx(0.03)
    assert motorcycle == pytest.approx(0.04)
    assert bicycle + motorcycle < 0.1  # renormalising would have claimed ~0.43 / 0.57


def test_apply_rejects_wrong_number_of_classes(tmp_path: Path) -> None:
    label_map = load_label_map(write_map(tmp_path, two_labels()))
    with pytest.raises(ValueError, match="expected 6 class probabilities"):
        label_map.apply(np.zeros(1000))


def test_shipped_label_map_matches_the_brief() -> None:
    names = load_class_names(DEFAULT_CLASS_NAMES_PATH)
    label_map = load_label_map(DEFAULT_LABELS_PATH)
    assert len(names) == 1000 and label_map.num_classes == 1000
    assert label_map.labels == ("bicycle", "motorcycle")
    by_label = {
        label: sorted(names[i] for i in idx)
        for label, idx in zip(label_map.labels, label_map.class_indices, strict=True)
    }
    assert by_label == {
        "bicycle": sorted(["mountain bike", "bicycle-built-for-two", "tricycle", "unicycle"]),
        "motorcycle": sorted(["moped", "motor scooter"]),
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "is not valid JSON"),
        ([1, 2], "expected a JSON object"),
        (two_labels(labels=[]), "'labels' must be a non-empty list"),
        (two_labels(class_names_file=None), "'class_names_file'"),
        (two_labels(class_names_file="missing.json"), "does not exist"),
        (two_labels(labels=[{"name": "", "imagenet_classes": ["moped"]}]), "'name' must be a non-empty string"),
        (two_labels(labels=[{"name": "bike", "imagenet_classes": []}]), "'imagenet_classes' must be a non-empty"),
        (two_labels(labels=[{"name": "bike", "imagenet_classes": ["penny farthing"]}]), "unknown class names"),
        (
            two_labels(labels=[{"name": "a", "imagenet_classes": ["cat"]}, {"name": "a", "imagenet_classes": ["dog"]}]),
            "duplicate label name 'a'",
        ),
        (
            two_labels(
                labels=[{"name": "a", "imagenet_classes": ["moped"]}, {"name": "b", "imagenet_classes": ["moped"]}]
            ),
            "already counted for label 'a'",
        ),
    ],
)
def test_invalid_label_maps_fail_with_a_clear_message(tmp_path: Path, data: object, message: str) -> None:
    path = write_map(tmp_path, data)
    with pytest.raises(LabelMapError, match=message) as info:
        load_label_map(path)
    assert str(path.parent) in str(info.value)  # every message names the file at fault


def test_missing_label_map_file(tmp_path: Path) -> None:
    with pytest.raises(LabelMapError, match="does not exist"):
        load_label_map(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("classes", "message"),
    [(["a", "b", "a"], "duplicate class names"), ({"a": 1}, "non-empty JSON list"), ([], "non-empty JSON list")],
)
def test_invalid_class_names_file(tmp_path: Path, classes: object, message: str) -> None:
    path = write_map(tmp_path, two_labels(), classes=classes)
    with pytest.raises(LabelMapError, match=message):
        load_label_map(path)
