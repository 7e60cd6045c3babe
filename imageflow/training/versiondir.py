"""A model version directory: what an endpoint serves, its labels, and how it was made.

```
VERSION_DIR/
  model.onnx      the served graph: input "image" [N, 3, 224, 224], output "probabilities" [N, L]
  head.onnx       the same graph minus the backbone (reads "features", "logits", "detail"), ~50 KB
  labels.json     {"labels": [...]} in output order
  metadata.json   version, data digest and counts, hyperparameters, seed, metrics, parent, created, backbone
```
``model.onnx`` is ``compose(backbone, head.onnx)``; ``metadata.json`` names the backbone file and its sha256, so
a version kept without ``model.onnx`` (the default shipped in the repository) can be assembled again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from imageflow.endpoint.model import (
    HEAD_FILE,
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    ModelLoadError,
    read_version_json,
)
from imageflow.paths import MODELS_DIR
from imageflow.training.backbone import file_sha256, load_backbone
from imageflow.training.graph import compose_served_model


def backbone_record(backbone_path: Path) -> dict[str, str]:
    """How metadata.json names the backbone: a file under models/ and its sha256."""
    return {"file": backbone_path.name, "sha256": file_sha256(backbone_path)}


def write_version(
    directory: Path,
    *,
    head: onnx.ModelProto,
    labels: tuple[str, ...],
    metadata: dict[str, Any],
    served: onnx.ModelProto | None,
) -> None:
    """Write a version directory (``served`` None: head only, to be assembled on load)."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(head, str(directory / HEAD_FILE))
    if served is not None:
        onnx.save(served, str(directory / MODEL_FILE))
    (directory / LABELS_FILE).write_text(json.dumps({"labels": list(labels)}, indent=2) + "\n", encoding="utf-8")
    write_metadata(directory, metadata)


def write_metadata(directory: Path, metadata: dict[str, Any]) -> None:
    text = json.dumps(metadata, indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"
    (directory / METADATA_FILE).write_text(text, encoding="utf-8")


def read_metadata(directory: Path) -> dict[str, Any]:
    file = directory / METADATA_FILE
    data = read_version_json(directory, METADATA_FILE)
    if not isinstance(data, dict):
        raise ModelLoadError(f"{file}: expected a JSON object")
    return data


def assemble_model(directory: Path, models_dir: Path = MODELS_DIR) -> bytes:
    """``compose(backbone, head.onnx)`` as bytes, after checking the backbone is the one the version names."""
    metadata = read_metadata(directory)
    record = metadata.get("backbone")
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        raise ModelLoadError(f"{directory / METADATA_FILE}: no 'backbone' record to assemble {MODEL_FILE} from")
    backbone_path = models_dir / Path(record["file"]).name
    if not backbone_path.is_file():
        raise ModelLoadError(f"backbone {backbone_path} named by {directory / METADATA_FILE} does not exist")
    actual = file_sha256(backbone_path)
    if record.get("sha256") != actual:
        raise ModelLoadError(
            f"backbone {backbone_path} has sha256 {actual[:16]}..., but {directory.name} was trained on "
            f"{str(record.get('sha256'))[:16]}...: retrain the version or restore that backbone"
        )
    head = onnx.load(str(directory / HEAD_FILE))
    flip = bool(record.get("test_time_flip"))
    return compose_served_model(load_backbone(backbone_path, flip=flip), head).SerializeToString()


def materialise(directory: Path, models_dir: Path = MODELS_DIR) -> Path:
    """Write ``model.onnx`` next to ``head.onnx`` if it is missing; returns its path."""
    target = directory / MODEL_FILE
    if not target.is_file():
        data = assemble_model(directory, models_dir)
        partial = target.with_suffix(".onnx.partial")
        partial.write_bytes(data)
        partial.replace(target)  # never leave a half-written model.onnx behind
    return target
