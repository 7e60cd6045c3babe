"""A small training run shared by the training tests (the full 1,000 images are for benchmarks)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imageflow.paths import REPO_ROOT

BUNDLED = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"
NEGATIVES = REPO_ROOT / "datasets" / "open-set-negatives" / "train"
PER_CLASS = 24


def make_small_lst_dataset(root: Path, per_class: int = PER_CLASS) -> Path:
    """The first ``per_class`` images of each label of the bundled split, in the lst layout."""
    (root / "train").mkdir(parents=True)
    (root / "train_lst").mkdir()
    taken = {0: 0, 1: 0}
    lines = []
    for line in (BUNDLED / "train_lst" / "train.lst").read_text().splitlines():
        _index, label, name = line.split("\t")
        if taken[int(label)] < per_class:
            taken[int(label)] += 1
            shutil.copy(BUNDLED / "train" / name, root / "train" / name)
            lines.append(f"{len(lines)}\t{label}\t{name}")
    (root / "train_lst" / "train.lst").write_text("\n".join(lines) + "\n")
    return root


def make_small_negatives(root: Path, count: int = 20) -> Path:
    root.mkdir(parents=True)
    for path in sorted(NEGATIVES.glob("*.png"))[::35][:count]:
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_lst_dataset(tmp_path_factory.mktemp("small-data") / "data")


@pytest.fixture(scope="session")
def small_negatives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_negatives(tmp_path_factory.mktemp("small-negatives") / "negatives")


@pytest.fixture(scope="session")
def small_version(tmp_path_factory: pytest.TempPathFactory, small_data: Path, small_negatives: Path) -> Path:
    """A version trained on 48 CIFAR images and 20 negatives, seed 3."""
    from imageflow.training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("small-version") / "version"
    train(small_data, out, TrainConfig(seed=3, negatives=small_negatives, threads=1))
    return out
