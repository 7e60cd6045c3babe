"""Served graphs: the backbone joined with a head into ONE ONNX model (input ``image``, output ``probabilities``).

A head reads the backbone's ``features``, ``logits`` and ``detail`` and writes ``probabilities`` [N, L], final
per-label probabilities in label order. Two kinds:

* the zero-shot head: ImageNet softmax, then each label's summed ImageNet classes (``models/labels/``);
* the trained head: a scikit-learn pipeline (standardise + logistic regression over the labels and "other"),
  converted by skl2onnx, tempered by the calibrated inverse temperature, softmaxed, "other" dropped. When the
  labels also have a zero-shot label map, it is mixed with the zero-shot head by a gate on ``detail``:
  ``p = w * zero_shot + (1 - w) * trained``, ``w = sigmoid(slope * (ln detail - midpoint))``. Images as blurry
  as the training data (CIFAR's 32x32, upscaled) get the trained head; detailed photos get the zero-shot head,
  which was trained on ImageNet's full-size photos and keeps a non-vehicle photo low.

Each version keeps its head as ``head.onnx``; ``model.onnx`` is ``compose(backbone, head)``, so a version shipped
without the 14 MB backbone copy can be assembled from the shipped backbone file (checked by sha256).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from imageflow.endpoint.labels import LabelMap
from imageflow.training.backbone import DETAIL, FEATURES, LOGITS, OPSET

OUTPUT = "probabilities"
_ML_OPSET = 1


@dataclass(frozen=True)
class Gate:
    """Weight of the zero-shot head: ``sigmoid(slope * (ln(detail) - midpoint))``."""

    slope: float
    midpoint: float

    def weight(self, detail: np.ndarray) -> np.ndarray:
        z = self.slope * (np.log(np.maximum(detail.astype(np.float64), 1e-12)) - self.midpoint)
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def between(cls, low: float, high: float, *, margin: float = 0.05) -> Gate:
        """The gate that is ``margin`` at detail ``low`` and ``1 - margin`` at ``high``."""
        if not 0 < low < high:
            raise ValueError(f"gate anchors must satisfy 0 < low < high, got {low}, {high}")
        logit = float(np.log((1 - margin) / margin))
        slope = 2 * logit / float(np.log(high / low))
        return cls(slope=slope, midpoint=float(np.log(low * high) / 2))


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto],
    name: str,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name, inputs, [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", None])], initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="imageflow")
    model.ir_version = 8
    return model


def _zero_shot_nodes(label_map: LabelMap, out: str, prefix: str) -> tuple[list[onnx.NodeProto], onnx.TensorProto]:
    matrix = np.zeros((label_map.num_classes, len(label_map.labels)), dtype=np.float32)
    for column, indices in enumerate(label_map.class_indices):
        matrix[list(indices), column] = 1.0
    nodes = [
        helper.make_node("Softmax", [LOGITS], [f"{prefix}imagenet_probabilities"], axis=-1),
        helper.make_node("MatMul", [f"{prefix}imagenet_probabilities", f"{prefix}label_sums"], [out]),
    ]
    return nodes, numpy_helper.from_array(matrix, f"{prefix}label_sums")


def zero_shot_head(label_map: LabelMap) -> onnx.ModelProto:
    """ImageNet softmax summed per label (not renormalised: "neither" stays visible as low values)."""
    nodes, matrix = _zero_shot_nodes(label_map, OUTPUT, "zero_shot/")
    inputs = [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", label_map.num_classes])]
    return _model(nodes, inputs, [matrix], "zero_shot_head")


def trained_head(
    pipeline: object,
    *,
    num_labels: int,
    inverse_temperature: float,
    zero_shot: LabelMap | None,
    gate: Gate | None,
) -> onnx.ModelProto:
    """The converted scikit-learn pipeline, calibrated, "other" dropped, optionally gated with zero-shot."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    n_features = int(pipeline.n_features_in_)  # type: ignore[attr-defined]
    classifier = convert_sklearn(
        pipeline,
        initial_types=[(FEATURES, FloatTensorType([None, n_features]))],
        options={LogisticRegression: {"raw_scores": True, "zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": _ML_OPSET},
    )
    # skl2onnx names its score output "probabilities"; with raw_scores it holds decision scores
    scores = "head/scores"
    for node in classifier.graph.node:
        node.output[:] = [scores if name == OUTPUT else name for name in node.output]
    classifier_nodes = list(classifier.graph.node)
    initializers = list(classifier.graph.initializer)
    initializers.append(numpy_helper.from_array(np.array(inverse_temperature, np.float32), "head/beta"))
    initializers.append(numpy_helper.from_array(np.array([0], np.int64), "head/start"))
    initializers.append(numpy_helper.from_array(np.array([num_labels], np.int64), "head/end"))
    initializers.append(numpy_helper.from_array(np.array([1], np.int64), "head/axis"))
    trained = OUTPUT if zero_shot is None else "head/trained"
    nodes = [
        *classifier_nodes,
        helper.make_node("Mul", [scores, "head/beta"], ["head/tempered"]),
        helper.make_node("Softmax", ["head/tempered"], ["head/calibrated"], axis=-1),
        helper.make_node("Slice", ["head/calibrated", "head/start", "head/end", "head/axis"], [trained]),
    ]
    inputs = [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["batch", n_features])]
    if zero_shot is not None:
        if gate is None:
            raise ValueError("a zero-shot label map needs a gate")
        zs_nodes, matrix = _zero_shot_nodes(zero_shot, "head/zero_shot", "head/")
        initializers += [
            matrix,
            numpy_helper.from_array(np.array(gate.slope, np.float32), "gate/slope"),
            numpy_helper.from_array(np.array(-gate.slope * gate.midpoint, np.float32), "gate/offset"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "gate/floor"),
        ]
        nodes += [
            *zs_nodes,
            helper.make_node("Max", [DETAIL, "gate/floor"], ["gate/detail"]),
            helper.make_node("Log", ["gate/detail"], ["gate/log_detail"]),
            helper.make_node("Mul", ["gate/log_detail", "gate/slope"], ["gate/scaled"]),
            helper.make_node("Add", ["gate/scaled", "gate/offset"], ["gate/z"]),
            helper.make_node("Sigmoid", ["gate/z"], ["gate/weight"]),
            # p = trained + w * (zero_shot - trained): a convex mixture, so probabilities stay in [0, 1]
            helper.make_node("Sub", ["head/zero_shot", trained], ["gate/difference"]),
            helper.make_node("Mul", ["gate/weight", "gate/difference"], ["gate/shift"]),
            helper.make_node("Add", [trained, "gate/shift"], [OUTPUT]),
        ]
        inputs += [
            helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", zero_shot.num_classes]),
            helper.make_tensor_value_info(DETAIL, TensorProto.FLOAT, ["batch", 1]),
        ]
    model = _model(nodes, inputs, initializers, "trained_head")
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", _ML_OPSET))
    onnx.checker.check_model(model)
    return model


def compose_served_model(backbone: onnx.ModelProto, head: onnx.ModelProto) -> onnx.ModelProto:
    """``image`` -> backbone -> head -> ``probabilities``, as one graph."""
    head_inputs = [i.name for i in head.graph.input]
    unknown = sorted(set(head_inputs) - {FEATURES, LOGITS, DETAIL})
    if unknown:
        raise ValueError(f"head inputs {unknown} are not backbone outputs ({FEATURES}, {LOGITS}, {DETAIL})")
    head = onnx.ModelProto.FromString(head.SerializeToString())
    head.ir_version = backbone.ir_version
    for opset in backbone.opset_import:
        if opset.domain not in {o.domain for o in head.opset_import}:
            head.opset_import.append(opset)
    backbone = onnx.ModelProto.FromString(backbone.SerializeToString())
    for opset in head.opset_import:
        if opset.domain not in {o.domain for o in backbone.opset_import}:
            backbone.opset_import.append(opset)
    served = compose.merge_models(backbone, head, io_map=[(name, name) for name in head_inputs], outputs=[OUTPUT])
    served.graph.name = "imageflow_classifier"
    onnx.checker.check_model(served)
    return served
