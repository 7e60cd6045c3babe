"""Regenerate ``samples/bicycle_crop.png``: the road bicycle in darknet's ``dog.jpg``, without the dog.

    .venv/bin/python samples/make_bicycle_crop.py

The box keeps the bicycle's rear wheel, frame and saddle; the dog (left) would otherwise dominate the
ImageNet prediction. Saved as PNG so the crop adds no second round of JPEG loss.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parent
BOX = (280, 120, 580, 430)  # (left, upper, right, lower) in dog.jpg's 768x576 pixels


def main() -> None:
    with Image.open(SAMPLES / "dog.jpg") as img:
        img.crop(BOX).save(SAMPLES / "bicycle_crop.png", optimize=True)


if __name__ == "__main__":
    main()
