"""The labelling handoff: Ground Truth input manifest out, output manifest or CSV in, a new dataset version.

A review queue folder is built here as `imageflow run` leaves it (records + review copies, layout.py); the
commands run through the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageflow.cli import main
from imageflow.review.groundtruth import CLASSIFICATION_TYPE
from imageflow.review.layout import image_key, record_key
from imageflow.review.queue import ReviewQueue
from imageflow.training.data import load_dataset

BUNDLED = Path(__file__).resolve().parents[2] / "datasets" / "cifar100-bicycle-motorcycle" / "train"
BUCKET = "image-classification-local-images"
LABELS = ("bicycle", "motorcycle")


def _record(queue: Path, execution: str, source_key: str, data: bytes, etag: str) -> str:
    copy = image_key(execution, source_key)
    record = {
        "record_version": 1,
        "source": {"s3_bucket": BUCKET, "s3_key": source_key, "etag": f'"{etag}"'},
        "review_copy": {"s3_bucket": BUCKET, "s3_key": copy},
        "prediction": {"inferences": [0.2, 0.1], "label": "bicycle", "confidence": 0.2},
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:sm:{execution}",
        "recorded_at": f"2026-11-28T00:00:0{execution[-1]}Z",
    }
    store = ReviewQueue(queue)
    store.write_object(copy, data)
    store.write_object(record_key(execution, source_key), json.dumps(record).encode())
    return f"s3://{BUCKET}/{copy}"


@pytest.fixture
def queue(tmp_path: Path) -> tuple[Path, list[str]]:
    """Four records: three distinct images, and the first image classified a second time (same ETag)."""
    folder = tmp_path / "queue"
    images = sorted(BUNDLED.glob("*.png"))[:3]
    refs = [
        _record(folder, f"exec-{i}", f"uploads/run/{i:05d}-{p.name}", p.read_bytes(), f"etag{i}")
        for i, p in enumerate(images)
    ]
    refs.append(_record(folder, "exec-3", f"uploads/run/00003-{images[0].name}", images[0].read_bytes(), "etag0"))
    return folder, refs


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A small base training set (lst layout), of images other than the queue's."""
    root = tmp_path / "base"
    (root / "train").mkdir(parents=True)
    (root / "train_lst").mkdir()
    lines = []
    for index, path in enumerate(sorted(BUNDLED.glob("*.png"))[10:16]):
        (root / "train" / path.name).write_bytes(path.read_bytes())
        lines.append(f"{index}\t{index % 2}\t{path.name}")
    (root / "train_lst" / "train.lst").write_text("\n".join(lines) + "\n")
    return root


def _cli(queue: Path, *args: str) -> int:
    return main(["review", "--queue", str(queue), *args])


def _output_line(ref: str, label: str, job: str = "bikes", **metadata: object) -> str:
    meta = {"class-name": label, "confidence": 0.9, "human-annotated": "yes", "type": CLASSIFICATION_TYPE, **metadata}
    return json.dumps({"source-ref": ref, job: LABELS.index(label) if label in LABELS else 0, f"{job}-metadata": meta})


def _manifest_refs(path: Path) -> list[str]:
    return [json.loads(line)["source-ref"] for line in path.read_text().splitlines()]


def test_export_writes_each_waiting_image_once_with_the_label_categories(queue, tmp_path: Path) -> None:
    folder, refs = queue
    assert _cli(folder, "export", "--out", str(tmp_path / "job.manifest")) == 0
    # the fourth record is the first image again (same ETag): it waits once
    assert _manifest_refs(tmp_path / "job.manifest") == refs[:3]
    categories = json.loads((tmp_path / "job.label-categories.json").read_text())
    assert categories == {"document-version": "2018-11-28", "labels": [{"label": "bicycle"}, {"label": "motorcycle"}]}


def test_a_second_export_exports_nothing_already_exported(queue, tmp_path: Path) -> None:
    folder, _ = queue
    _cli(folder, "export", "--out", str(tmp_path / "first.manifest"))
    _record(folder, "exec-5", "uploads/run/00005-new.png", sorted(BUNDLED.glob("*.png"))[5].read_bytes(), "etag5")
    assert _cli(folder, "export", "--out", str(tmp_path / "second.manifest")) == 0
    assert _manifest_refs(tmp_path / "second.manifest") == [
        f"s3://{BUCKET}/{image_key('exec-5', 'uploads/run/00005-new.png')}"
    ]


def test_import_of_an_output_manifest_builds_a_deduplicated_dataset_version_with_provenance(
    queue, base: Path, tmp_path: Path
) -> None:
    folder, refs = queue
    labels_file = tmp_path / "output.manifest"
    labels_file.write_text(
        "\n".join(_output_line(ref, label) for ref, label in zip(refs[:3], LABELS + LABELS, strict=False)) + "\n"
    )
    assert _cli(folder, "import", str(labels_file), "--base", str(base)) == 0
    version = folder / "datasets" / "v1"
    dataset = load_dataset(version, LABELS, for_training=False)
    assert len(dataset.train) == 6 + 3
    provenance = [json.loads(line) for line in (version / "provenance.jsonl").read_text().splitlines()]
    reviewed = [p for p in provenance if p["origin"] == "review"]
    assert [(p["source_ref"], p["label"]) for p in reviewed] == list(
        zip(refs[:3], ["bicycle", "motorcycle", "bicycle"], strict=True)
    )
    assert reviewed[0]["original"].startswith(f"s3://{BUCKET}/uploads/run/") and reviewed[0]["etag"] == '"etag0"'
    assert (
        reviewed[0]["annotator"].startswith("groundtruth:bikes") and reviewed[0]["labels_file"] == "output.manifest:1"
    )
    # the fourth record holds the same bytes as the first: labelled too, it is not added twice
    labels_file.write_text(_output_line(refs[3], "bicycle") + "\n")
    assert _cli(folder, "import", str(labels_file)) == 0
    assert not (folder / "datasets" / "v2").exists()


def test_import_of_a_csv(queue, base: Path, tmp_path: Path) -> None:
    folder, refs = queue
    labels_file = tmp_path / "labels.csv"
    labels_file.write_text(f"s3_uri,label\n{refs[0]},motorcycle\n{refs[1]},bicycle\n")
    assert _cli(folder, "import", str(labels_file), "--base", str(base)) == 0
    info = json.loads((folder / "datasets" / "v1" / "dataset.json").read_text())
    assert info["reviewed_images"] == 2 and info["images"] == 8


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (lambda refs: _output_line(refs[1], "scooter"), "unknown label 'scooter'"),
        (
            lambda refs: _output_line(f"s3://{BUCKET}/review/images/other/x.png", "bicycle"),
            "is not in the review queue",
        ),
        (lambda refs: '{"source-ref": "s3://x/y.png", "bikes": 0', "malformed JSON"),
        (lambda refs: json.dumps({"bikes": 0}), "malformed line"),
        (
            lambda refs: json.dumps(
                {"source-ref": refs[1], "bikes-metadata": {"failure-reason": "ClientError: timed out"}}
            ),
            "marked this item as failed: ClientError: timed out",
        ),
        (
            lambda refs: _output_line(refs[1], "bicycle", type="groundtruth/object-detection"),
            "not 'groundtruth/image-classification'",
        ),
        (
            lambda refs: json.dumps(
                {
                    "source-ref": refs[1],
                    "bikes": 1,
                    "bikes-metadata": {
                        "class-name": "bicycle",
                        "confidence": 1,
                        "human-annotated": "yes",
                        "type": CLASSIFICATION_TYPE,
                    },
                }
            ),
            "class-name 'bicycle' is category 0",
        ),
    ],
    ids=[
        "unknown-label",
        "not-in-queue",
        "malformed-json",
        "no-source-ref",
        "failed-item",
        "wrong-task-type",
        "index-mismatch",
    ],
)
def test_a_bad_line_is_named_and_nothing_is_imported(queue, base: Path, tmp_path: Path, capsys, line, problem) -> None:
    folder, refs = queue
    labels_file = tmp_path / "output.manifest"
    labels_file.write_text(
        _output_line(refs[0], "bicycle") + "\n" + line(refs) + "\n" + _output_line(refs[2], "motorcycle") + "\n"
    )
    assert _cli(folder, "import", str(labels_file), "--base", str(base)) == 2
    error = capsys.readouterr().err
    assert "line 2:" in error and problem in error and "nothing imported" in error
    assert "line 1" not in error and "line 3" not in error
    assert not (folder / "datasets").exists() or not any((folder / "datasets").iterdir())


def test_every_bad_line_of_a_csv_is_reported_at_once(queue, tmp_path: Path, capsys) -> None:
    folder, refs = queue
    labels_file = tmp_path / "labels.csv"
    labels_file.write_text(f"{refs[0]},bicycle\nnot a line\n{refs[1]},car\n")
    assert _cli(folder, "import", str(labels_file)) == 2
    error = capsys.readouterr().err
    assert "line 2: malformed line" in error and "line 3:" in error and "unknown label 'car'" in error
    assert not (folder / "datasets").exists()
