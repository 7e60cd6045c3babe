"""Regenerate this folder's images: 32x32 pictures of things that are neither bicycles nor motorcycles.

Run from the repository root after extracting the sources named in PROVENANCE.md (byte-identical output):

    .venv/bin/python datasets/open-set-negatives/make_negatives.py \
        --stamps EXTRACTED/usr/share/tuxpaint/stamps \
        --backgrounds EXTRACTED/usr/share/backgrounds/mate \
        --skimage-data EXTRACTED/skimage/data

Each source is split by a hash of its name into train (75 %) and heldout (25 %), so that held-out images
share neither their object nor their background with training images.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SIZE = 32  # CIFAR's size: these stand beside the training images as the "other" class
WORK = 128  # composed at this size, then downscaled like CIFAR's images were
SEED = 20261127
HELDOUT_SHARE = 0.25
# no stamp of a bicycle, tricycle or wheel; no symbols (flat icons and letters)
STAMP_EXCLUDE = ("symbols/", "vehicles/cycle/", "vehicles/7spoke")
MATE_FOLDERS = ("nature", "abstract")
MATE_EXCLUDE = ("Arc-Colors", "_3840x2160", "_5640x3172", "Gulp", "Spring")
# photos of scikit-image's data that samples/ already holds stay out: they measure the open set
SKIMAGE_BACKGROUNDS = (
    "brick.png", "camera.png", "cell.png", "clock_motion.png", "coins.png", "grass.png", "gravel.png",
    "hubble_deep_field.jpg", "ihc.png", "logo.png", "moon.png", "page.png", "retina.jpg", "text.png",
)  # fmt: skip


def heldout(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELDOUT_SHARE


def square_crop(rng: random.Random, img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    side = int(min(w, h) * rng.uniform(0.25, 1.0))
    x, y = rng.randint(0, w - side), rng.randint(0, h - side)
    return img.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.LANCZOS)


def composite(rng: random.Random, stamp: Image.Image, background: Image.Image) -> Image.Image:
    """The stamp (a cut-out photo with alpha) over a crop of a background, roughly centred like CIFAR."""
    canvas = square_crop(rng, background, WORK)
    if rng.random() < 0.5:
        stamp = ImageOps.mirror(stamp)
    scale = rng.uniform(0.55, 0.95) * WORK / max(stamp.size)
    stamp = stamp.resize((max(1, round(stamp.width * scale)), max(1, round(stamp.height * scale))), Image.LANCZOS)
    x = (WORK - stamp.width) // 2 + rng.randint(-WORK // 10, WORK // 10)
    y = (WORK - stamp.height) // 2 + rng.randint(-WORK // 10, WORK // 10)
    canvas.paste(stamp, (x, y), stamp)
    return canvas


def synthetic(rng: random.Random) -> tuple[Image.Image, str]:
    """Flat colours, gradients, blurred noise and stripes: inputs with no object at all."""
    kind = rng.choice(["solid", "gradient", "noise", "stripes"])
    c1 = np.array([rng.randint(0, 255) for _ in range(3)], float)
    c2 = np.array([rng.randint(0, 255) for _ in range(3)], float)
    if kind == "solid":
        pixels = np.broadcast_to(c1, (WORK, WORK, 3))
    elif kind == "gradient":
        ramp = np.linspace(0, 1, WORK)
        t = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
        pixels = np.broadcast_to(c1 * (1 - t) + c2 * t, (WORK, WORK, 3))
    elif kind == "noise":
        small = np.random.default_rng(rng.randint(0, 2**31)).uniform(0, 255, (WORK // 8, WORK // 8, 3))
        pixels = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((WORK, WORK), Image.BICUBIC), float)
    else:
        t = ((np.arange(WORK) // rng.randint(6, 30)) % 2)[None, :, None]
        pixels = np.broadcast_to(c1 * (1 - t) + c2 * t, (WORK, WORK, 3))
    return Image.fromarray(np.ascontiguousarray(pixels).clip(0, 255).astype(np.uint8)), kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stamps", type=Path, required=True, help="tuxpaint-stamps-default's stamps folder")
    parser.add_argument("--backgrounds", type=Path, required=True, help="mate-backgrounds' backgrounds/mate folder")
    parser.add_argument("--skimage-data", type=Path, required=True, help="the scikit-image wheel's skimage/data")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    rng = random.Random(SEED)

    backgrounds: list[tuple[str, Image.Image]] = []
    for folder in MATE_FOLDERS:
        for path in sorted((args.backgrounds / folder).iterdir()):
            if not any(part in path.name for part in MATE_EXCLUDE):
                backgrounds.append((f"mate-backgrounds {folder}/{path.name}", Image.open(path).convert("RGB")))
    for name in SKIMAGE_BACKGROUNDS:
        backgrounds.append((f"scikit-image data/{name}", Image.open(args.skimage_data / name).convert("RGB")))
    pools = {
        "train": [b for b in backgrounds if not heldout(b[0])],
        "heldout": [b for b in backgrounds if heldout(b[0])],
    }
    rows: list[tuple[str, str, str]] = []
    for split in pools:
        (args.out / split).mkdir(parents=True, exist_ok=True)

    def save(img: Image.Image, split: str, name: str, source: str) -> None:
        if img.size != (SIZE, SIZE):
            img = img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        img.save(args.out / split / name, format="PNG", optimize=True)
        rows.append((f"{split}/{name}", source, "neither"))

    stamps = sorted(
        p for p in args.stamps.rglob("*.png") if not p.relative_to(args.stamps).as_posix().startswith(STAMP_EXCLUDE)
    )
    for path in stamps:
        rel = path.relative_to(args.stamps).as_posix()
        split = "heldout" if heldout(rel) else "train"
        bg_name, bg = rng.choice(pools[split])
        img = composite(rng, Image.open(path).convert("RGBA"), bg)
        save(img, split, f"stamp-{rel[:-4].replace('/', '-')}.png", f"tuxpaint-stamps-default {rel} on {bg_name}")
    for i in range(120):
        bg_name, bg = rng.choice(backgrounds)
        split = "heldout" if heldout(bg_name) else "train"
        save(square_crop(rng, bg, WORK), split, f"scene-{i:03d}.png", f"crop of {bg_name}")
    faces = np.load(args.skimage_data / "lfw_subset.npy")  # 100 faces then 100 non-faces, 25x25 grey
    for i, face in enumerate(faces):
        kind = "face" if i < 100 else "nonface"
        img = Image.fromarray((face * 255).round().astype(np.uint8)).convert("RGB")
        save(img, "heldout" if i % 4 == 0 else "train", f"lfw-{kind}-{i:03d}.png", f"scikit-image lfw_subset[{i}]")
    for i in range(48):
        img, kind = synthetic(rng)
        save(img, "heldout" if i % 4 == 0 else "train", f"synthetic-{i:02d}-{kind}.png", f"synthetic {kind}")
    with (args.out / "manifest.csv").open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([("file", "source", "label"), *sorted(rows)])
    print(f"{len(rows)} images: {sum(r[0].startswith('train/') for r in rows)} train, the rest heldout")


if __name__ == "__main__":
    main()
