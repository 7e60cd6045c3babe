"""Labelled images in the layouts users already have, checked before anything is trained.

Two layouts are read:

* SageMaker's image/lst layout (what the built-in image-classification algorithm reads)::

      DATA/train/...            images
      DATA/train_lst/*.lst      one line per image: index<TAB>label<TAB>path relative to DATA/train/
      DATA/validation/...       optional, with DATA/validation_lst/*.lst

* A folder per class: ``DATA/<label>/*`` or, with an explicit validation split,
  ``DATA/train/<label>/*`` and ``DATA/validation/<label>/*``.

Without a validation channel a stratified share of train is held out with a fixed seed. Every problem is a
``DatasetError`` naming the file (and the lst line): a missing or unreadable image, a label outside the label
map, a malformed line, a duplicate (same file or same bytes twice), a class with no images. Nothing is skipped.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
DEFAULT_VALIDATION_SHARE = 0.2
TRAIN, VALIDATION = "train", "validation"


class DatasetError(ValueError):
    """The training data cannot be used as it is; the message names the file (and line) and what is wrong."""


@dataclass(frozen=True)
class Example:
    """One labelled image and where it was listed (``train_lst/train.lst:12`` or ``train/bicycle/``)."""

    path: Path
    label: int
    origin: str
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """Checked training data: label names, the train and validation examples, and how validation was made."""

    root: Path
    layout: str  # "lst" or "folders"
    labels: tuple[str, ...]
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    validation_source: str

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per label, per split: ``{"train": {"bicycle": 400, ...}, "validation": {...}}``."""
        result: dict[str, dict[str, int]] = {}
        for split, examples in ((TRAIN, self.train), (VALIDATION, self.validation)):
            per_label = Counter(e.label for e in examples)
            result[split] = {name: per_label.get(i, 0) for i, name in enumerate(self.labels)}
        return result

    def digest(self) -> str:
        """sha256 over the labelled image contents (not their paths): the same data copied elsewhere agrees."""
        return content_digest([*self.train, *self.validation], self.labels)


def content_digest(examples: Iterable[Example], labels: Sequence[str]) -> str:
    """Order-independent sha256 of (label name, image sha256) pairs."""
    lines = sorted(f"{labels[e.label]}\t{e.sha256}" for e in examples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def load_dataset(
    root: str | Path,
    labels: Sequence[str] | None = None,
    *,
    validation_share: float = DEFAULT_VALIDATION_SHARE,
    seed: int = 0,
    for_training: bool = True,
) -> Dataset:
    """Read and check a dataset in the lst or folder-per-class layout (see the module docstring).

    ``labels`` names the classes in output order; lst files carry only indices, so they need it, and a
    folder layout defaults to its sorted folder names. ``for_training=False`` (evaluation) allows a class
    without images and holds nothing out.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    if (root / "train_lst").is_dir() or (root / "validation_lst").is_dir():
        layout, train, validation, names = "lst", *_read_lst_layout(root, labels)
    else:
        layout, train, validation, names = "folders", *_read_folder_layout(root, labels)
    _check_no_duplicates([*train, *validation], root)
    if not for_training:
        return Dataset(root, layout, tuple(names), tuple(train), tuple(validation), "none (evaluation)")
    _check_every_class_has_images(train, names, root)
    if validation:
        source = "validation channel"
    else:
        train, validation = stratified_holdout(train, validation_share, seed)
        source = f"stratified {validation_share:.0%} hold-out of train (seed {seed})"
    return Dataset(root, layout, tuple(names), tuple(train), tuple(validation), source)


def stratified_holdout(examples: Sequence[Example], share: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Split off ``share`` of each class (at least one image per class) with a seeded shuffle."""
    if not 0.0 < share < 1.0:
        raise DatasetError(f"validation share must be between 0 and 1, got {share}")
    import numpy as np  # numpy's generator: the split must not change with Python's hash seed or version

    rng = np.random.default_rng(seed)
    keep: list[Example] = []
    held: list[Example] = []
    by_label: dict[int, list[Example]] = {}
    for example in sorted(examples, key=lambda e: e.sha256):  # input order must not change the split
        by_label.setdefault(example.label, []).append(example)
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < 2:
            raise DatasetError(
                f"label {label} has only {len(group)} image: a validation hold-out needs at least 2 per class "
                "(or give a validation channel)"
            )
        order = rng.permutation(len(group))
        n_held = min(len(group) - 1, max(1, math.floor(len(group) * share + 0.5)))
        held.extend(group[i] for i in order[:n_held])
        keep.extend(group[i] for i in order[n_held:])
    return keep, held


# -- SageMaker image/lst layout ---------------------------------------------------------------------


def _read_lst_layout(root: Path, labels: Sequence[str] | None) -> tuple[list[Example], list[Example], list[str]]:
    if not labels:
        raise DatasetError(f"{root}: lst files carry label indices only; name the labels (e.g. --labels a,b)")
    names = list(labels)
    train = _read_channel(root, TRAIN, names)
    if not train:
        raise DatasetError(f"{root / 'train_lst'}: no .lst file lists any image (the train channel is required)")
    validation = _read_channel(root, VALIDATION, names) if (root / "validation_lst").exists() else []
    if (root / "validation_lst").exists() and not validation:
        raise DatasetError(f"{root / 'validation_lst'}: no .lst file lists any image")
    return train, validation, names


def _read_channel(root: Path, channel: str, labels: Sequence[str]) -> list[Example]:
    lst_dir = root / f"{channel}_lst"
    image_dir = root / channel
    if not lst_dir.is_dir():
        raise DatasetError(f"{lst_dir} does not exist: the {channel} channel needs its .lst files there")
    lst_files = sorted(lst_dir.glob("*.lst"))
    if not lst_files:
        raise DatasetError(f"{lst_dir} holds no .lst file")
    if not image_dir.is_dir():
        raise DatasetError(f"{image_dir} does not exist: the images of {lst_files[0]} are read from there")
    examples: list[Example] = []
    for lst in lst_files:
        examples.extend(read_lst(lst, image_dir, labels, display_root=root))
    return examples


def read_lst(lst: Path, image_dir: Path, labels: Sequence[str], *, display_root: Path | None = None) -> list[Example]:
    """Parse one .lst file (``index<TAB>label<TAB>relative path``), checking every line and image."""
    shown = lst.relative_to(display_root).as_posix() if display_root else str(lst)
    try:
        text = lst.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    examples: list[Example] = []
    seen_index: dict[str, int] = {}
    image_root = image_dir.resolve()
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{shown} line {number}"
        if not line.strip():
            continue  # a trailing empty line is common and harmless
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 3:
            raise DatasetError(
                f"{where}: expected 3 tab-separated fields (index, label, path), got {len(fields)}: {line!r}"
            )
        index, label_text, relative = (f.strip() for f in fields)
        if not index.isdigit():
            raise DatasetError(f"{where}: the index {index!r} is not a non-negative integer")
        if index in seen_index:
            raise DatasetError(f"{where}: index {index} is already used on line {seen_index[index]}")
        seen_index[index] = number
        label = _parse_label(label_text, labels, where)
        if not relative:
            raise DatasetError(f"{where}: the image path is empty")
        path = (image_dir / relative).resolve()
        if Path(relative).is_absolute() or not path.is_relative_to(image_root):
            raise DatasetError(f"{where}: image path {relative!r} is outside the channel folder {image_dir}")
        examples.append(_example(path, label, f"{shown}:{number}", where))
    return examples


def _parse_label(text: str, labels: Sequence[str], where: str) -> int:
    # im2rec writes labels as floats ("1.000000"); anything not integral is not a class index
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: the label {text!r} is not a number") from None
    if not value.is_integer():
        raise DatasetError(f"{where}: the label {text!r} is not a whole class index")
    label = int(value)
    if not 0 <= label < len(labels):
        raise DatasetError(
            f"{where}: label {label} is outside the label map {list(labels)} (indices 0..{len(labels) - 1})"
        )
    return label


# -- folder per class -------------------------------------------------------------------------------


def _read_folder_layout(root: Path, labels: Sequence[str] | None) -> tuple[list[Example], list[Example], list[str]]:
    has_channels = (root / TRAIN).is_dir() and _subfolders(root / TRAIN)
    train_root = root / TRAIN if has_channels else root
    folders = _subfolders(train_root)
    if not folders:
        raise DatasetError(
            f"{root}: no class folders found. Expected DATA/<label>/<images>, DATA/train/<label>/<images>, "
            "or SageMaker's DATA/train/ + DATA/train_lst/*.lst"
        )
    names = list(labels) if labels else sorted(f.name for f in folders)
    train = _read_class_folders(train_root, names, root)
    validation: list[Example] = []
    if has_channels and (root / VALIDATION).is_dir():
        validation = _read_class_folders(root / VALIDATION, names, root)
    return train, validation, names


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_class_folders(folder: Path, labels: Sequence[str], display_root: Path) -> list[Example]:
    index_of = {name: i for i, name in enumerate(labels)}
    examples: list[Example] = []
    for sub in _subfolders(folder):
        shown = sub.relative_to(display_root).as_posix() + "/"
        if sub.name not in index_of:
            raise DatasetError(f"{shown}: folder name {sub.name!r} is not a label of the label map {list(labels)}")
        for path in sorted(p for p in sub.rglob("*") if p.is_file() and not p.name.startswith(".")):
            where = path.relative_to(display_root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DatasetError(f"{where}: not an image file (expected one of {sorted(IMAGE_SUFFIXES)})")
            examples.append(_example(path.resolve(), index_of[sub.name], where, where))
    return examples


def read_image_folder(folder: Path, label: int, display_root: Path | None = None) -> list[Example]:
    """Every image under ``folder`` (recursively) with one label; any other file is an error."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} does not exist or is not a folder")
    root = display_root or folder.parent
    examples = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        where = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(f"{where}: not an image file (expected one of {sorted(IMAGE_SUFFIXES)})")
        examples.append(_example(path.resolve(), label, where, where))
    if not examples:
        raise DatasetError(f"{folder} holds no image")
    return examples


# -- checks shared by both layouts --------------------------------------------------------------------


def _example(path: Path, label: int, origin: str, where: str) -> Example:
    """Check that the image exists and that Pillow recognises it (header only), then hash its bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{where}: image {path} does not exist") from None
    except IsADirectoryError:
        raise DatasetError(f"{where}: {path} is a folder, not an image") from None
    except OSError as exc:
        raise DatasetError(f"{where}: image {path} cannot be read: {exc.strerror}") from None
    if not data:
        raise DatasetError(f"{where}: image {path} is empty (0 bytes)")
    try:
        with Image.open(path) as img:
            img.verify()  # format, header and (for PNG) chunk checksums, without decoding every pixel
    except UnidentifiedImageError:
        raise DatasetError(f"{where}: {path} is not an image Pillow can read") from None
    except Exception as exc:  # Pillow reports damage with many exception types
        raise DatasetError(f"{where}: image {path} is damaged: {exc}") from None
    return Example(path, label, origin, hashlib.sha256(data).hexdigest())


def _check_no_duplicates(examples: Sequence[Example], root: Path) -> None:
    """The same file, or the same bytes under two names, would count twice and can leak into validation."""
    by_path: dict[Path, Example] = {}
    by_content: dict[str, Example] = {}
    for example in examples:
        shown = example.path.relative_to(root) if example.path.is_relative_to(root) else example.path
        if example.path in by_path:
            raise DatasetError(
                f"{example.origin}: duplicate: {shown} is already listed at {by_path[example.path].origin}"
            )
        by_path[example.path] = example
        first = by_content.get(example.sha256)
        if first is not None:
            first_shown = first.path.relative_to(root) if first.path.is_relative_to(root) else first.path
            raise DatasetError(
                f"{example.origin}: duplicate: {shown} has the same bytes as {first_shown} ({first.origin})"
            )
        by_content[example.sha256] = example


def _check_every_class_has_images(examples: Sequence[Example], labels: Sequence[str], root: Path) -> None:
    present = {e.label for e in examples}
    missing = [f"{name!r} (label {i})" for i, name in enumerate(labels) if i not in present]
    if missing:
        raise DatasetError(f"{root}: class {', '.join(missing)} has no training images")
