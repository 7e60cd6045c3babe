"""The shipped MobileNetV2 as a feature extractor, and what a served graph reads from it.

The backbone graph takes the served input ``image`` (what ``imageflow.endpoint.model.preprocess`` yields) and
gives three outputs that every head is built on:

* ``features``: the 1,280 pooled activations before ImageNet's classifier (what transfer learning trains on);
* ``logits``: ImageNet's 1,000 logits (what the zero-shot head sums);
* ``detail``: how much fine detail the input holds, the mean absolute difference between the image and its
  3x3 box blur. An image upscaled from 32x32 has almost none; a photo has a lot. The served graph uses it to
  weigh the trained head (made for images like its training data) against the zero-shot head (made on
  full-size photos).

Training extracts these with the very graph that is served, so a head never sees numbers computed another way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from imageflow.endpoint.paths import DEFAULT_MODEL_PATH

INPUT = "image"
FEATURES = "features"
LOGITS = "logits"
DETAIL = "detail"
OPSET = 17
# the pooled features of torchvision's MobileNetV2 export, just before the classifier's Gemm
_POOLED = "/ReduceMean_output_0"
_ORIGINAL_INPUT = "input"


class BackboneError(RuntimeError):
    """The backbone file is missing or is not the graph this code knows how to extend."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_backbone(path: Path = DEFAULT_MODEL_PATH, *, flip: bool = False) -> onnx.ModelProto:
    """The ImageNet MobileNetV2 with input ``image`` and outputs ``features``, ``logits`` and ``detail``.

    ``flip``: test-time augmentation inside the graph. The backbone runs on the image and on its mirror image
    (one batch of 2N), and ``features`` and ``logits`` are the mean of the two: a bicycle facing left is still
    a bicycle. Training and serving use the same graph, so a head never sees features computed another way. It
    doubles the backbone's work per image; measured on the bundled CIFAR images it changed accuracy by less
    than the folds' spread (benchmarks/retrain_cv_benchmark.py), so it is a hyperparameter (``flip``), off
    by default.
    """
    if not path.is_file():
        raise BackboneError(f"backbone model {path} does not exist (see models/PROVENANCE.md)")
    model = onnx.load(str(path))
    graph = model.graph
    names = {out for node in graph.node for out in node.output}
    if _POOLED not in names or [i.name for i in graph.input] != [_ORIGINAL_INPUT]:
        raise BackboneError(f"{path} is not the MobileNetV2 export this project ships (no {_POOLED!r} tensor)")
    backbone_input = _TTA_BOTH if flip else INPUT
    pooled, logits = (_TTA_FEATURES, _TTA_LOGITS) if flip else (FEATURES, LOGITS)
    for node in graph.node:
        node.input[:] = [backbone_input if name == _ORIGINAL_INPUT else name for name in node.input]
        node.output[:] = [pooled if name == _POOLED else name for name in node.output]
        node.input[:] = [pooled if name == _POOLED else name for name in node.input]
        node.output[:] = [logits if name == LOGITS else name for name in node.output]
    graph.input[0].name = INPUT
    if flip:
        nodes = list(graph.node)
        del graph.node[:]
        graph.node.extend(
            [
                helper.make_node("Slice", [INPUT, *_MIRROR_ARGS], ["tta/mirrored"]),
                helper.make_node("Concat", [INPUT, "tta/mirrored"], [_TTA_BOTH], axis=0),
                *nodes,
            ]
        )
        graph.initializer.extend(_mirror_initializers())
        graph.node.extend(_mean_of_views(_TTA_FEATURES, FEATURES, 1280) + _mean_of_views(_TTA_LOGITS, LOGITS, 1000))
    graph.node.extend(_detail_nodes())
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["batch", 1280]),
            helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", 1000]),
            helper.make_tensor_value_info(DETAIL, TensorProto.FLOAT, ["batch", 1]),
        ]
    )
    onnx.checker.check_model(model)
    return model


_TTA_BOTH = "tta/both"
_TTA_FEATURES = "tta/features_both"
_TTA_LOGITS = "tta/logits_both"
_MIRROR_ARGS = ("tta/starts", "tta/ends", "tta/axes", "tta/steps")


def _mirror_initializers() -> list[onnx.TensorProto]:
    """Slice arguments reversing the width axis: start at the last column, step -1 to before the first."""
    values = (-1, -(2**62), 3, -1)
    return [
        helper.make_tensor(name, TensorProto.INT64, [1], [value])
        for name, value in zip(_MIRROR_ARGS, values, strict=True)
    ]


def _mean_of_views(both: str, out: str, width: int) -> list[onnx.NodeProto]:
    """[2N, width] (the N images, then their mirrors) -> [N, width], the mean of each image and its mirror."""
    shape = f"{out}/views_shape"
    return [
        helper.make_node(
            "Constant", [], [shape], value=helper.make_tensor(shape, TensorProto.INT64, [3], [2, -1, width])
        ),
        helper.make_node("Reshape", [both, shape], [f"{out}/views"]),
        helper.make_node("ReduceMean", [f"{out}/views"], [out], axes=[0], keepdims=0),
    ]


def _detail_nodes() -> list[onnx.NodeProto]:
    """detail = mean |image - box3x3(image)| per image, shape [N, 1]."""
    return [
        helper.make_node(
            "AveragePool",
            [INPUT],
            ["detail/blur"],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[1, 1],
            count_include_pad=0,
        ),
        helper.make_node("Sub", [INPUT, "detail/blur"], ["detail/diff"]),
        helper.make_node("Abs", ["detail/diff"], ["detail/abs"]),
        helper.make_node("ReduceMean", ["detail/abs"], ["detail/mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node(
            "Constant", [], ["detail/axis"], value=helper.make_tensor("axis", TensorProto.INT64, [1], [1])
        ),
        helper.make_node("Unsqueeze", ["detail/mean", "detail/axis"], [DETAIL]),
    ]


@dataclass(frozen=True)
class Extracted:
    """Backbone outputs for a list of images, row i for image i."""

    features: np.ndarray  # [n, 1280] float32
    logits: np.ndarray  # [n, 1000] float32
    detail: np.ndarray  # [n] float32

    def take(self, rows: Sequence[int] | np.ndarray) -> Extracted:
        index = np.asarray(rows, dtype=np.int64)
        return Extracted(self.features[index], self.logits[index], self.detail[index])

    @staticmethod
    def concat(parts: Sequence[Extracted]) -> Extracted:
        return Extracted(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.logits for p in parts]),
            np.concatenate([p.detail for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.detail)


class ImageDecodeFailure(ValueError):
    """An image of the training data cannot be decoded; the message names it and where it was listed."""


class FeatureExtractor:
    """Runs the backbone graph over image files, a batch at a time, with onnxruntime on CPU."""

    def __init__(self, backbone: onnx.ModelProto, *, threads: int | None = None, batch_size: int = 8) -> None:
        import onnxruntime as ort

        from imageflow.endpoint.model import default_thread_count

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_thread_count()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            backbone.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size

    def run(self, batch: np.ndarray) -> Extracted:
        features, logits, detail = self._session.run([FEATURES, LOGITS, DETAIL], {INPUT: batch})
        return Extracted(features, logits, detail[:, 0])

    def extract(
        self,
        items: Sequence[tuple[Path, str]],
        on_progress: Callable[[int], None] | None = None,
    ) -> Extracted:
        """Backbone outputs for ``(path, where-it-was-listed)`` pairs; a bad image raises naming both.

        The next batch is decoded on a second thread while onnxruntime runs the current one: both release
        the GIL, so decoding costs no wall time on a machine with a core to spare.
        """
        from concurrent.futures import ThreadPoolExecutor

        batches = [items[start : start + self.batch_size] for start in range(0, len(items), self.batch_size)]
        if not batches:
            return Extracted(np.zeros((0, 1280), np.float32), np.zeros((0, 1000), np.float32), np.zeros(0, np.float32))
        parts: list[Extracted] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as decoder:
            pending = decoder.submit(_decode_batch, batches[0])
            for index, chunk in enumerate(batches):
                batch = pending.result()
                if index + 1 < len(batches):
                    pending = decoder.submit(_decode_batch, batches[index + 1])
                parts.append(self.run(batch))
                if on_progress is not None:
                    on_progress(len(chunk))
        return Extracted.concat(parts)


def _decode_batch(chunk: Sequence[tuple[Path, str]]) -> np.ndarray:
    from imageflow.endpoint.model import ImageDecodeError, preprocess

    arrays = []
    for path, where in chunk:
        try:
            arrays.append(preprocess(path.read_bytes()))
        except (ImageDecodeError, OSError) as exc:
            raise ImageDecodeFailure(f"{where}: cannot decode {path}: {exc}") from None
    return np.concatenate(arrays)
