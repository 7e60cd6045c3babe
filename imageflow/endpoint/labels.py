"""The label map: which of the model's classes add up to each output label.

A label map is a JSON file (see ``models/labels/bicycle_motorcycle.json``)::

    {
      "class_names_file": "../imagenet_classes.json",   # relative to the label map file
      "labels": [
        {"name": "bicycle",    "imagenet_classes": ["mountain bike", "tricycle", ...]},
        {"name": "motorcycle", "imagenet_classes": ["moped", "motor scooter"]}
      ]
    }

Output probabilities come in the order of ``labels``. Each is the sum of its classes' softmax
probabilities and is NOT renormalised across labels, so "neither" stays visible as two low numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class LabelMapError(ValueError):
    """The label map or class-names file is missing or malformed; the message says which and why."""


@dataclass(frozen=True)
class LabelMap:
    """Output label names and, per label, the model output indices whose probabilities are summed."""

    labels: tuple[str, ...]
    class_indices: tuple[tuple[int, ...], ...]
    num_classes: int

    def apply(self, probabilities: np.ndarray) -> list[float]:
        """Sum class probabilities ``(num_classes,)`` into one float per label, in label order."""
        if probabilities.shape != (self.num_classes,):
            raise ValueError(f"expected {self.num_classes} class probabilities, got shape {probabilities.shape}")
        return [float(probabilities[list(idx)].sum()) for idx in self.class_indices]


def load_class_names(path: Path) -> list[str]:
    """Read a JSON list of unique class names in model output order."""
    data = _read_json(path, "class-names file")
    if not isinstance(data, list) or not data or not all(isinstance(n, str) and n for n in data):
        raise LabelMapError(f"class-names file {path}: expected a non-empty JSON list of non-empty strings")
    duplicates = sorted({n for n in data if data.count(n) > 1})
    if duplicates:
        raise LabelMapError(f"class-names file {path}: duplicate class names {duplicates} are ambiguous")
    return data


def load_label_map(path: str | Path, class_names: Sequence[str] | None = None) -> LabelMap:
    """Load and validate a label map file.

    ``class_names`` overrides the file's ``class_names_file`` (useful in tests). Raises ``LabelMapError``
    naming the file and the offending entry for anything malformed, unknown or duplicated.
    """
    path = Path(path)
    data = _read_json(path, "label map")
    if not isinstance(data, dict):
        raise LabelMapError(f"label map {path}: expected a JSON object with a 'labels' list")

    if class_names is None:
        ref = data.get("class_names_file")
        if not isinstance(ref, str) or not ref:
            raise LabelMapError(f"label map {path}: 'class_names_file' (path to the model's class names) is required")
        class_names = load_class_names((path.parent / ref).resolve())
    index_of = {name: i for i, name in enumerate(class_names)}

    entries = data.get("labels")
    if not isinstance(entries, list) or not entries:
        raise LabelMapError(f"label map {path}: 'labels' must be a non-empty list")

    labels: list[str] = []
    indices: list[tuple[int, ...]] = []
    claimed: dict[str, str] = {}  # class name -> label; a class counted twice would inflate the sums
    for position, entry in enumerate(entries):
        where = f"label map {path}: labels[{position}]"
        if not isinstance(entry, dict):
            raise LabelMapError(f"{where}: expected an object with 'name' and 'imagenet_classes'")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise LabelMapError(f"{where}: 'name' must be a non-empty string")
        if name in labels:
            raise LabelMapError(f"{where}: duplicate label name {name!r}")
        classes = entry.get("imagenet_classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise LabelMapError(f"{where} ({name}): 'imagenet_classes' must be a non-empty list of class names")
        unknown = [c for c in classes if c not in index_of]
        if unknown:
            raise LabelMapError(f"{where} ({name}): unknown class names {unknown} (not in the model's class list)")
        for c in classes:
            if c in claimed:
                raise LabelMapError(f"{where} ({name}): class {c!r} is already counted for label {claimed[c]!r}")
            claimed[c] = name
        labels.append(name)
        indices.append(tuple(index_of[c] for c in classes))
    return LabelMap(labels=tuple(labels), class_indices=tuple(indices), num_classes=len(class_names))


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelMapError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise LabelMapError(f"{what} {path} cannot be read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelMapError(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
