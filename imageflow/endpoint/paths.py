"""Where the default model files live: ``models/`` at the repository root (next to this package)."""

from __future__ import annotations

from imageflow.paths import MODELS_DIR

DEFAULT_MODEL_PATH = MODELS_DIR / "mobilenet_v2.onnx"
DEFAULT_LABELS_PATH = MODELS_DIR / "labels" / "bicycle_motorcycle.json"
DEFAULT_CLASS_NAMES_PATH = MODELS_DIR / "imagenet_classes.json"
