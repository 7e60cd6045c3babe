"""Open-set and held-out figures: what a trained version lets through, on images it never saw.

    .venv/bin/python benchmarks/open_set_benchmark.py [--model DIR] [--folds 5]

With the served graph of a version (default: the shipped cifar100-default):
1. full-size photos of animals, people and things (samples/ and datasets/open-set-photos/, never trained on):
   how many pass 0.73 (must be none), and the highest confidence;
2. full-size vehicle photos (samples/): they must pass with the right label;
3. the same non-vehicle photos downscaled to 32, 64 and 128 pixels, flat and noise images: pass share;
4. the 32x32 held-out open-set negatives (datasets/open-set-negatives/heldout/): pass share.
Then, for the CIFAR images (the original project's test split is held back), a k-fold estimate of what
`imageflow train` reaches on images it did not train on: per fold, the head is fitted and calibrated exactly as
`train` does (80 % fit, 20 % calibration, the bundled negatives) and scored on the unseen fold.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
THRESHOLD = 0.73
NON_VEHICLES = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "china.jpg",
    "flower.jpg",
    "grace_hopper.jpg",
    "rocket.jpg",
    "dog.jpg",
]
VEHICLES = {"motorcycle_left.png": "motorcycle", "motorcycle_right.png": "motorcycle", "bicycle_crop.png": "bicycle"}


def png(img) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def square(img, size: int):
    from PIL import Image

    w, h = img.size
    s = min(w, h)
    return img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize(
        (size, size), Image.LANCZOS
    )


def synthetic_photos() -> dict[str, bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    return {
        "grey 640x480": png(Image.new("RGB", (640, 480), (128, 128, 128))),
        "black 640x480": png(Image.new("RGB", (640, 480), (0, 0, 0))),
        "white 640x480": png(Image.new("RGB", (640, 480), (255, 255, 255))),
        "noise 640x480": png(Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))),
        "blurred noise 640x480": png(
            Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((640, 480), Image.BICUBIC)
        ),
    }


def open_set(model_dir: Path) -> None:
    from PIL import Image

    from imageflow.endpoint.model import load_model_dir

    classifier = load_model_dir(model_dir)
    labels = classifier.labels
    photos = [REPO / "samples" / n for n in NON_VEHICLES] + sorted(
        (REPO / "datasets" / "open-set-photos").glob("*.jpg")
    )
    print(f"model: {model_dir}")
    print(f"1. full-size photos of neither label ({len(photos)}, never trained on):")
    best = []
    for path in photos:
        p = classifier.classify(path.read_bytes())
        best.append(max(p))
        print(f"   {path.relative_to(REPO).as_posix():38s} {labels[int(np.argmax(p))]:10s} {max(p):.4f}")
    print(f"   -> {sum(b >= THRESHOLD for b in best)} of {len(best)} pass {THRESHOLD}; highest {max(best):.4f}")
    print("2. full-size vehicle photos:")
    for name, label in VEHICLES.items():
        p = classifier.classify((REPO / "samples" / name).read_bytes())
        verdict = "passes" if max(p) >= THRESHOLD and labels[int(np.argmax(p))] == label else "DOES NOT PASS"
        print(f"   samples/{name:30s} {labels[int(np.argmax(p))]:10s} {max(p):.4f}  {verdict} as {label}")
    print("3. the same non-vehicle photos downscaled, and flat/noise images:")
    for size in (32, 64, 128):
        values = [max(classifier.classify(png(square(Image.open(p).convert("RGB"), size)))) for p in photos]
        print(
            f"   {size:3d} px: {sum(v >= THRESHOLD for v in values)} of {len(values)} pass; highest {max(values):.3f}"
        )
    for name, body in synthetic_photos().items():
        print(f"   {name:22s} best {max(classifier.classify(body)):.4f}")
    heldout = sorted((REPO / "datasets" / "open-set-negatives" / "heldout").glob("*.png"))
    values = np.array([max(classifier.classify(p.read_bytes())) for p in heldout])
    print(
        f"4. 32x32 held-out open-set negatives: {int((values >= THRESHOLD).sum())} of {len(values)} pass "
        f"({(values >= THRESHOLD).mean():.1%})"
    )


def cifar_folds(folds: int) -> None:
    from imageflow.paths import REPO_ROOT
    from imageflow.training.backbone import FeatureExtractor, load_backbone
    from imageflow.training.data import load_dataset, read_image_folder, stratified_holdout
    from imageflow.training.graph import Gate
    from imageflow.training.head import HeadParams, fit_head, fit_inverse_temperature, served_probabilities
    from imageflow.training.metrics import score
    from imageflow.training.train import DEFAULT_NEGATIVES, TrainConfig, find_zero_shot_map

    config = TrainConfig()
    data = load_dataset(
        REPO / "datasets" / "cifar100-bicycle-motorcycle", ("bicycle", "motorcycle"), for_training=False
    )
    examples = sorted(data.train, key=lambda e: e.sha256)
    negatives = read_image_folder(DEFAULT_NEGATIVES, 2, REPO_ROOT)
    extractor = FeatureExtractor(load_backbone())
    x = extractor.extract([(e.path, e.origin) for e in examples])
    nx = extractor.extract([(e.path, e.origin) for e in negatives])
    y = np.array([e.label for e in examples])
    zero_shot = find_zero_shot_map(data.labels)
    rng = np.random.default_rng(0)
    fold_of = np.empty(len(y), dtype=int)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        fold_of[rng.permutation(members)] = np.arange(len(members)) % folds
    rows = []
    for k in range(folds):
        train_idx, test_idx = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        by_sha = {examples[i].sha256: i for i in train_idx}
        fit, cal = stratified_holdout([examples[i] for i in train_idx], config.validation_share, config.seed)
        fit_idx = [by_sha[e.sha256] for e in fit]
        cal_idx = [by_sha[e.sha256] for e in cal]
        neg_fit, neg_cal = stratified_holdout(negatives, config.negatives_validation_share, config.seed)
        neg_pos = {e.sha256: i for i, e in enumerate(negatives)}
        nf, nc = nx.take([neg_pos[e.sha256] for e in neg_fit]), nx.take([neg_pos[e.sha256] for e in neg_cal])
        head = fit_head(
            np.concatenate([x.features[fit_idx], nf.features]),
            np.concatenate([y[fit_idx], np.full(len(nf), 2)]),
            HeadParams(config.regularisation),
        )
        beta = fit_inverse_temperature(
            head, np.concatenate([x.features[cal_idx], nc.features]), np.concatenate([y[cal_idx], np.full(len(nc), 2)])
        )
        low = float(x.detail[fit_idx].max())
        gate = Gate.between(low, low * config.gate_ratio)
        test = x.take(test_idx)
        probabilities = served_probabilities(
            head, test, num_labels=2, inverse_temperature=beta, zero_shot=zero_shot, gate=gate
        )
        s = score(probabilities, y[test_idx])
        rows.append([s.accuracy, s.pass_share, s.accuracy_among_passed, s.ece])
        print(
            f"   fold {k + 1}: accuracy {s.accuracy:.3f}, pass {s.pass_share:.3f}, "
            f"accuracy among passed {s.accuracy_among_passed:.3f}, ECE {s.ece:.3f}"
        )
    r = np.array(rows)
    print(
        f"   mean over {folds} folds of {len(test_idx)} unseen images: accuracy {r[:, 0].mean():.3f} "
        f"(min {r[:, 0].min():.3f}), pass {r[:, 1].mean():.3f} (min {r[:, 1].min():.3f}), accuracy among passed "
        f"{r[:, 2].mean():.3f} (min {r[:, 2].min():.3f}), ECE {r[:, 3].mean():.3f} (max {r[:, 3].max():.3f})"
    )


def main() -> int:
    from imageflow.registry.store import BUILTIN_DIR, SHIPPED_DEFAULT

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=BUILTIN_DIR / SHIPPED_DEFAULT)
    parser.add_argument("--folds", type=int, default=5, help="0 skips the CIFAR k-fold estimate")
    args = parser.parse_args()
    open_set(args.model)
    if args.folds:
        print(f"5. CIFAR images, {args.folds}-fold: trained as `imageflow train` does, scored on the unseen fold")
        cifar_folds(args.folds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
