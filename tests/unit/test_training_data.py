"""Reading labelled images: SageMaker's lst layout, a folder per class, and every kind of bad data."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from imageflow.paths import REPO_ROOT
from imageflow.training.data import DatasetError, load_dataset, stratified_holdout

BUNDLED = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"
LABELS = ("bicycle", "motorcycle")


def _png(seed: int, size: int = 8) -> bytes:
    img = Image.new("RGB", (size, size), (seed % 256, (seed * 7) % 256, (seed * 13) % 256))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _lst_dataset(root: Path, rows: list[tuple[int, str]], channel: str = "train") -> Path:
    (root / channel).mkdir(parents=True, exist_ok=True)
    (root / f"{channel}_lst").mkdir(exist_ok=True)
    lines = []
    for index, (label, name) in enumerate(rows):
        (root / channel / name).write_bytes(_png(index + (100 if channel == "validation" else 0)))
        lines.append(f"{index}\t{label}\t{name}")
    (root / f"{channel}_lst" / f"{channel}.lst").write_text("\n".join(lines) + "\n")
    return root


def _rows(n: int = 10) -> list[tuple[int, str]]:
    return [(i % 2, f"img{i}.png") for i in range(n)]


def test_the_bundled_training_split_loads_with_a_stratified_seeded_holdout() -> None:
    data = load_dataset(BUNDLED, LABELS, seed=0)
    assert data.layout == "lst"
    assert data.counts() == {
        "train": {"bicycle": 400, "motorcycle": 400},
        "validation": {"bicycle": 100, "motorcycle": 100},
    }
    assert "hold-out" in data.validation_source
    again = load_dataset(BUNDLED, LABELS, seed=0)
    assert [e.sha256 for e in again.validation] == [e.sha256 for e in data.validation]
    other_seed = load_dataset(BUNDLED, LABELS, seed=1)
    assert {e.sha256 for e in other_seed.validation} != {e.sha256 for e in data.validation}
    assert data.digest() == other_seed.digest()  # same images and labels, whatever the split


def test_a_validation_channel_is_used_as_given(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows())
    _lst_dataset(root, [(0, "v0.png"), (1, "v1.png")], channel="validation")
    data = load_dataset(root, LABELS)
    assert len(data.train) == 10 and len(data.validation) == 2
    assert data.validation_source == "validation channel"


def test_float_labels_written_by_im2rec_are_accepted(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows())
    lst = root / "train_lst" / "train.lst"
    lst.write_text(lst.read_text().replace("\t1\t", "\t1.000000\t"))
    assert (
        load_dataset(root, LABELS).counts()["train"]["motorcycle"]
        + load_dataset(root, LABELS).counts()["validation"]["motorcycle"]
        == 5
    )


def test_a_folder_per_class_layout_takes_its_labels_from_the_folders(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            (tmp_path / label / f"{i}.png").write_bytes(_png(i + (50 if label == "dog" else 0)))
    data = load_dataset(tmp_path)
    assert data.layout == "folders" and data.labels == ("cat", "dog")
    assert sum(data.counts()["train"].values()) + sum(data.counts()["validation"].values()) == 10


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3\t1", r"train\.lst line 4: expected 3 tab-separated fields"),
        ("x\t1\timg3.png", r"train\.lst line 4: the index 'x'"),
        ("0\t1\timg3.png", r"train\.lst line 4: index 0 is already used on line 1"),
        ("3\t2\timg3.png", r"train\.lst line 4: label 2 is outside the label map"),
        ("3\t0.5\timg3.png", r"train\.lst line 4: the label '0.5' is not a whole class index"),
        ("3\tbike\timg3.png", r"train\.lst line 4: the label 'bike' is not a number"),
        ("3\t1\tmissing.png", r"train\.lst line 4: image .*missing\.png does not exist"),
        ("3\t1\t../escape.png", r"train\.lst line 4: image path '../escape.png' is outside the channel folder"),
        ("3\t1\timg0.png", r"train_lst/train\.lst:4: duplicate: train/img0\.png is already listed at .*:1"),
    ],
)
def test_a_bad_lst_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = _lst_dataset(tmp_path, _rows(3))
    lst = root / "train_lst" / "train.lst"
    lst.write_text(lst.read_text() + line + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset(root, LABELS)


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows(4))
    (root / "train" / "img2.png").write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=r"train\.lst line 3: .*img2\.png is not an image Pillow can read"):
        load_dataset(root, LABELS)


def test_a_truncated_png_is_named_as_damaged(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows(4))
    noisy = io.BytesIO()
    Image.effect_noise((64, 64), 50).save(noisy, format="PNG")
    (root / "train" / "img1.png").write_bytes(noisy.getvalue()[:-40])  # header intact, pixel data cut
    with pytest.raises(DatasetError, match=r"train\.lst line 2: image .*img1\.png is damaged"):
        load_dataset(root, LABELS)


def test_the_same_bytes_under_two_names_are_a_duplicate(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows(4))
    shutil.copy(root / "train" / "img0.png", root / "train" / "img3.png")
    with pytest.raises(
        DatasetError, match=r"train\.lst:4: duplicate: train/img3\.png has the same bytes as train/img0"
    ):
        load_dataset(root, LABELS)


def test_a_class_with_no_images_is_refused(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, [(0, f"img{i}.png") for i in range(4)])
    with pytest.raises(DatasetError, match=r"class 'motorcycle' \(label 1\) has no training images"):
        load_dataset(root, LABELS)


def test_lst_needs_label_names_and_a_train_channel(tmp_path: Path) -> None:
    root = _lst_dataset(tmp_path, _rows(4))
    with pytest.raises(DatasetError, match="name the labels"):
        load_dataset(root, None)
    shutil.rmtree(root / "train")
    with pytest.raises(DatasetError, match=r"train does not exist"):
        load_dataset(root, LABELS)


def test_a_folder_that_is_not_a_label_or_a_stray_file_is_refused(tmp_path: Path) -> None:
    for label in ("bicycle", "motorcycle"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.png").write_bytes(_png(i + (9 if label == "motorcycle" else 0)))
    (tmp_path / "bicycle" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"bicycle/notes\.txt: not an image file"):
        load_dataset(tmp_path, LABELS)
    (tmp_path / "bicycle" / "notes.txt").unlink()
    (tmp_path / "car").mkdir()
    with pytest.raises(DatasetError, match=r"car/: folder name 'car' is not a label"):
        load_dataset(tmp_path, LABELS)


def test_an_empty_or_missing_dataset_folder_says_what_layouts_are_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope", LABELS)
    with pytest.raises(DatasetError, match="no class folders found"):
        load_dataset(tmp_path, LABELS)


def test_the_holdout_keeps_every_class_and_at_least_one_image_per_class_in_train(tmp_path: Path) -> None:
    data = load_dataset(_lst_dataset(tmp_path, _rows(4)), LABELS, validation_share=0.5)
    keep, held = stratified_holdout(data.train + data.validation, 0.5, seed=3)
    assert sorted(e.label for e in held) == [0, 1] and sorted(e.label for e in keep) == [0, 1]
