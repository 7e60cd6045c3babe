"""The class labels the endpoint's probabilities are ordered by."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_LABELS = ("bicycle", "motorcycle")


def parse_labels(value: str) -> tuple[str, ...]:
    """Labels from a comma list (``bicycle,motorcycle``) or a label-map JSON file with a ``labels`` list."""
    path = Path(value)
    if value.endswith(".json") or path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read label map {value}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ValueError(f"label map {value} is not valid JSON: {exc}") from None
        labels = document.get("labels") if isinstance(document, dict) else None
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise ValueError(f"label map {value} needs a 'labels' key holding a list of names")
    else:
        labels = [label.strip() for label in value.split(",")]
    if not labels or any(not label for label in labels):
        raise ValueError(f"bad labels {value!r}: give names separated by commas, e.g. bicycle,motorcycle")
    if len(set(labels)) != len(labels):
        raise ValueError(f"bad labels {value!r}: names repeat")
    if len(labels) > 65535:
        raise ValueError("more than 65535 labels are not supported")
    return tuple(labels)
