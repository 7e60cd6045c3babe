"""Split the bundled training data for `make demo`: a held-out set the demo never trains on.

``python -m imageflow.training.demo_split OUT`` writes
* ``OUT/train-data/``: the rest, in SageMaker's lst layout (what `imageflow train` gets);
* ``OUT/heldout/bicycle/``, ``OUT/heldout/motorcycle/``: the held-out images, a folder per class (what
  `imageflow run` and `imageflow evaluate` get).

The real test split of the original project is kept back for judging, so the demo carves its own: a seeded,
stratified share of the bundled images, never used for training in the demo.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from imageflow.paths import REPO_ROOT
from imageflow.training.data import load_dataset, stratified_holdout

BUNDLED = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"
LABELS = ("bicycle", "motorcycle")


def split(out: Path, share: float = 0.1, seed: int = 2026) -> tuple[int, int]:
    dataset = load_dataset(BUNDLED, LABELS, for_training=False)
    keep, held = stratified_holdout(dataset.train, share, seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "train-data" / "train").mkdir(parents=True)
    (out / "train-data" / "train_lst").mkdir()
    lines = []
    for index, example in enumerate(sorted(keep, key=lambda e: e.path.name)):
        shutil.copy(example.path, out / "train-data" / "train" / example.path.name)
        lines.append(f"{index}\t{example.label}\t{example.path.name}")
    (out / "train-data" / "train_lst" / "train.lst").write_text("\n".join(lines) + "\n")
    for example in held:
        folder = out / "heldout" / LABELS[example.label]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(example.path, folder / example.path.name)
    return len(keep), len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--share", type=float, default=0.1, help="held-out share (default: %(default)s)")
    args = parser.parse_args()
    kept, held = split(args.out, args.share)
    print(f"{args.out}/train-data: {kept} images to train on; {args.out}/heldout: {held} held-out images")


if __name__ == "__main__":
    main()
