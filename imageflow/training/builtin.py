"""The versions shipped in ``models/versions/``, rebuilt by ``make versions``.

* ``zero-shot``: the ImageNet MobileNetV2 with its bicycle/motorcycle label map, as a model version (the
  served graph's head sums the ImageNet softmax per label).
* ``cifar100-default``: ``imageflow train`` on the bundled CIFAR-100 training split, seed 0.

Only ``head.onnx``, ``labels.json`` and ``metadata.json`` are kept in the repository; ``model.onnx`` (the head
joined with the 14 MB backbone) is assembled when the registry first opens, or by ``load_model_dir``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from imageflow.endpoint.labels import load_label_map
from imageflow.endpoint.model import MODEL_FILE
from imageflow.endpoint.paths import DEFAULT_LABELS_PATH, DEFAULT_MODEL_PATH
from imageflow.paths import REPO_ROOT
from imageflow.registry.store import BUILTIN_DIR, SHIPPED_DEFAULT, ZERO_SHOT
from imageflow.training.graph import zero_shot_head
from imageflow.training.versiondir import backbone_record, write_version

BUNDLED_DATA = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"


def build_zero_shot(out: Path, label_map_path: Path = DEFAULT_LABELS_PATH) -> None:
    label_map = load_label_map(label_map_path)
    metadata = {
        "version": ZERO_SHOT,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kind": "zero-shot",
        "labels": list(label_map.labels),
        "parent": None,
        "seed": None,
        "hyperparameters": {"label_map": label_map_path.relative_to(REPO_ROOT).as_posix()},
        "data": None,
        "metrics": {},
        "backbone": backbone_record(DEFAULT_MODEL_PATH),
        "description": "ImageNet MobileNetV2; each label is the summed softmax of its ImageNet classes",
    }
    write_version(out, head=zero_shot_head(label_map), labels=label_map.labels, metadata=metadata, served=None)


def build_shipped_default(out: Path) -> None:
    from imageflow.training.train import TrainConfig, train

    train(BUNDLED_DATA, out, TrainConfig(seed=0, version=SHIPPED_DEFAULT, parent=ZERO_SHOT))
    (out / MODEL_FILE).unlink()  # assembled from head.onnx + the shipped backbone on first use


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=BUILTIN_DIR)
    args = parser.parse_args()
    build_zero_shot(args.out / ZERO_SHOT)
    build_shipped_default(args.out / SHIPPED_DEFAULT)
    print(f"wrote {args.out / ZERO_SHOT} and {args.out / SHIPPED_DEFAULT}")


if __name__ == "__main__":
    main()
