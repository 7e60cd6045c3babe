"""The image classifier behind the local endpoint: ONNX MobileNetV2 on onnxruntime (CPU) + a label map.

Preprocessing matches torchvision's ImageNet preset (resize shorter side to 256 with antialiased bilinear,
centre-crop 224, ImageNet mean/std, NCHW float32), done with Pillow and numpy so that neither torch nor
torchvision is needed at run time.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps, UnidentifiedImageError

from handlers.common.config import DEFAULT_MAX_IMAGE_PIXELS
from handlers.common.errors import too_many_pixels_message
from handlers.common.images import pillow_pixel_count
from imageflow.endpoint.labels import LabelMap, load_class_names, load_label_map
from imageflow.endpoint.paths import DEFAULT_CLASS_NAMES_PATH, DEFAULT_LABELS_PATH, DEFAULT_MODEL_PATH

RESIZE_SHORTER = 256
CROP = 224
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# (x / 255 - mean) / std folded into one multiply-add per pixel
_SCALE = (1.0 / (255.0 * _STD)).astype(np.float32)
_OFFSET = (-_MEAN / _STD).astype(np.float32)


class ImageDecodeError(ValueError):
    """The request body is empty or is not an image Pillow can decode."""


class ModelLoadError(RuntimeError):
    """The ONNX model file is missing, invalid, or does not fit the label map."""


@functools.cache
def max_image_pixels() -> int:
    """The largest image (width x height) the endpoint decodes: ``MAX_IMAGE_PIXELS``, as for the functions."""
    raw = os.environ.get("MAX_IMAGE_PIXELS", "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not raw.isdigit() or int(raw) <= 0:
        raise ModelLoadError(f"MAX_IMAGE_PIXELS must be a positive whole number of pixels, got {raw!r}")
    return int(raw)


def preprocess(data: bytes) -> np.ndarray:
    """Decode image bytes into a ``(1, 3, 224, 224)`` float32 array ready for the model."""
    if not data:
        raise ImageDecodeError("the request body is empty; expected image bytes (JPEG, PNG, ...)")
    limit = max_image_pixels()
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > limit:
                raise ImageDecodeError(
                    too_many_pixels_message("the request body", width * height, limit, f"{width}x{height}")
                )
            if img.format == "JPEG":
                # let libjpeg decode at 1/2, 1/4 or 1/8 scale while the shorter side stays >= 256: large
                # photos then decode several times faster, before the (antialiased) resize does the rest
                scale = RESIZE_SHORTER / min(img.size)
                img.draft("RGB", (math.ceil(img.size[0] * scale), math.ceil(img.size[1] * scale)))
            rgb = ImageOps.exif_transpose(img).convert("RGB")
            pixels = _resize_and_crop(rgb)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(too_many_pixels_message("the request body", pillow_pixel_count(exc), limit)) from None
    except UnidentifiedImageError:
        # Pillow's own message names an in-memory BytesIO object, which helps nobody
        raise ImageDecodeError(
            f"cannot decode the request body as an image: not a recognised image format ({len(data)} bytes"
            f" starting {data[:8]!r})"
        ) from None
    except Exception as exc:
        # Pillow signals corrupt or unknown data with many exception types (OSError, SyntaxError,
        # ValueError, EOFError, struct.error...); to the caller they all mean "not a decodable image"
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(f"cannot decode the request body as an image: {first_line}") from None
    x = np.asarray(pixels, dtype=np.float32) * _SCALE + _OFFSET  # HWC
    return np.ascontiguousarray(x.transpose(2, 0, 1))[np.newaxis]


def _resize_and_crop(img: Image.Image) -> Image.Image:
    """Resize shorter side to 256 then centre-crop 224, in ONE resample restricted to the crop box.

    Same geometry as torchvision's Resize(256) + CenterCrop(224); resampling only the box that survives
    the crop does about half the work of resizing the whole image first.
    """
    w, h = img.size
    if w <= h:
        rw, rh = RESIZE_SHORTER, int(RESIZE_SHORTER * h / w)
    else:
        rw, rh = int(RESIZE_SHORTER * w / h), RESIZE_SHORTER
    left, top = round((rw - CROP) / 2), round((rh - CROP) / 2)
    sx, sy = w / rw, h / rh
    box = (left * sx, top * sy, (left + CROP) * sx, (top + CROP) * sy)
    return img.resize((CROP, CROP), Image.Resampling.BILINEAR, box=box)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (the label sums then do not lose small masses)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def default_thread_count() -> int:
    """Intra-op threads for one inference: half the CPUs this process may use, between 1 and 4.

    Measured on 2 cores: 1 thread runs the model in ~8 ms whatever else is busy, 2 threads ~4-5 ms on an
    idle machine but 15-20 ms as soon as the other core is taken (the local runtime, Pillow decoding the
    next request). Leaving cores free keeps latency predictable; concurrency comes from request threads.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(4, available // 2))


class ImageClassifier:
    """Image bytes -> probabilities per label, in label order (thread-safe; load once, reuse).

    Two kinds of model: an ImageNet model whose softmax a ``label_map`` sums into labels (``from_files``), or a
    model version whose graph already outputs the final probabilities, named by ``labels`` (``load_model_dir``).
    """

    def __init__(
        self,
        model_path: str | Path,
        label_map: LabelMap | None = None,
        *,
        labels: Sequence[str] | None = None,
        threads: int | None = None,
        model_bytes: bytes | None = None,
    ) -> None:
        model_path = Path(model_path)
        max_image_pixels()  # a bad MAX_IMAGE_PIXELS stops the endpoint at start-up, not at its first request
        if model_bytes is None and not model_path.is_file():
            raise ModelLoadError(f"model file {model_path} does not exist (see models/PROVENANCE.md to export it)")
        if (label_map is None) == (labels is None):
            raise ValueError("give either a label map (ImageNet model) or the labels (model version)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_thread_count()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle worker threads must sleep, not spin: on 2 cores spinning steals CPU from Pillow decoding
        # and from the rest of the local runtime between requests
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                model_bytes if model_bytes is not None else str(model_path),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelLoadError(f"cannot load ONNX model {model_path}: {exc}") from None
        self._input_name = self._session.get_inputs()[0].name
        self._output_name = self._session.get_outputs()[0].name
        num_classes = self._session.get_outputs()[0].shape[-1]
        expected = label_map.num_classes if label_map is not None else len(labels or ())
        if isinstance(num_classes, int) and num_classes != expected:
            what = "the label map's class list" if label_map is not None else "labels.json"
            raise ModelLoadError(f"model {model_path} has {num_classes} outputs but {what} has {expected} names")
        self.model_path = model_path
        self.label_map = label_map
        self._labels = tuple(labels) if labels is not None else label_map.labels  # type: ignore[union-attr]

    @classmethod
    def from_files(
        cls,
        model_path: str | Path = DEFAULT_MODEL_PATH,
        labels_path: str | Path = DEFAULT_LABELS_PATH,
        *,
        threads: int | None = None,
    ) -> ImageClassifier:
        """Build from a model file and a label map file (defaults: the files in ``models/``)."""
        return cls(model_path, load_label_map(labels_path), threads=threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def class_probabilities(self, data: bytes) -> np.ndarray:
        """All model classes' probabilities ``(num_classes,)`` for one encoded image (softmax of an
        ImageNet model's logits; a model version's own output)."""
        batch = preprocess(data)
        # InferenceSession.run releases the GIL, so other request threads keep decoding meanwhile
        output = self._session.run([self._output_name], {self._input_name: batch})[0]
        return softmax(output)[0] if self.label_map is not None else output[0]

    def classify(self, data: bytes) -> list[float]:
        """Probability per label, in label order; raises ``ImageDecodeError`` for a non-image body."""
        probabilities = self.class_probabilities(data)
        if self.label_map is None:
            return [float(p) for p in probabilities]
        return self.label_map.apply(probabilities)

    def top_classes(
        self, data: bytes, k: int = 3, class_names_path: str | Path = DEFAULT_CLASS_NAMES_PATH
    ) -> list[tuple[str, float]]:
        """The k most probable model classes with their names (for reports and provenance, not serving)."""
        names = load_class_names(Path(class_names_path))
        probs = self.class_probabilities(data)
        return [(names[i], float(probs[i])) for i in np.argsort(-probs)[:k]]


MODEL_FILE = "model.onnx"
HEAD_FILE = "head.onnx"
LABELS_FILE = "labels.json"
METADATA_FILE = "metadata.json"


def read_version_json(directory: Path, name: str) -> Any:
    """One JSON file of a model version directory; a missing or unreadable one is a ``ModelLoadError``."""
    file = directory / name
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{file} does not exist: {directory} is not a model version directory") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{file} cannot be read as JSON: {exc}") from None


def read_version_labels(path: Path) -> tuple[str, ...]:
    """The label names of a model version directory (``labels.json``: ``{"labels": [...]}``)."""
    file = path / LABELS_FILE
    data = read_version_json(path, LABELS_FILE)
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise ModelLoadError(f'{file}: expected {{"labels": [non-empty names, in output order]}}')
    return tuple(labels)


def load_model_dir(path: Path, *, threads: int | None = None) -> ImageClassifier:
    """Load a model version directory (``model.onnx``, ``labels.json``, ``metadata.json``) for serving.

    A version shipped without ``model.onnx`` (only its small ``head.onnx``, to keep the 14 MB backbone out of
    the repository twice) is assembled in memory from the backbone its metadata names.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model version directory {path} does not exist")
    labels = read_version_labels(path)
    model_file = path / MODEL_FILE
    if model_file.is_file():
        return ImageClassifier(model_file, labels=labels, threads=threads)
    if (path / HEAD_FILE).is_file():
        from imageflow.training.versiondir import assemble_model  # needs onnx: only for head-only versions

        return ImageClassifier(model_file, labels=labels, threads=threads, model_bytes=assemble_model(path))
    raise ModelLoadError(f"{path} holds neither {MODEL_FILE} nor {HEAD_FILE}")
