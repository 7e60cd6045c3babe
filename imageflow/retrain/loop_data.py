"""Data for `make loop`: the bundled split, a held-out part cut in two halves, never trained on by the demo.

    python -m imageflow.retrain.loop_data OUT [--share 0.2]

* ``OUT/train-data/``: the rest of the bundled images (lst layout): the base the first dataset version builds on;
* ``OUT/first/<label>/``: half of the held-out images: run with the zero-shot model, reviewed, labelled;
* ``OUT/second/<label>/``: the other half: run after retraining, never trained on.

The original project's test split is kept back for judging; this stands in for it (``demo_split``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from imageflow.training.demo_split import split


def make(out: Path, share: float = 0.2) -> tuple[int, int, int]:
    kept, _ = split(out / "split", share)
    shutil.move(str(out / "split" / "train-data"), str(out / "train-data"))
    counts = {"first": 0, "second": 0}
    for label_dir in sorted((out / "split" / "heldout").iterdir()):
        for index, image in enumerate(sorted(label_dir.iterdir())):
            half = "first" if index % 2 == 0 else "second"
            target = out / half / label_dir.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(image), str(target / image.name))
            counts[half] += 1
    shutil.rmtree(out / "split")
    return kept, counts["first"], counts["second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--share", type=float, default=0.2, help="held-out share (default: %(default)s)")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    kept, first, second = make(args.out, args.share)
    print(f"{args.out}/train-data: {kept} images (base); {args.out}/first: {first}; {args.out}/second: {second}")


if __name__ == "__main__":
    main()
