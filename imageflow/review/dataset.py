"""Dataset versions: the base training data plus every reviewed image, in SageMaker's lst layout.

``datasets/v<N>/`` in the review queue folder::

    train/<file>              images (the base's, then reviewed ones named review-<md5>.<ext>)
    train_lst/train.lst       index<TAB>label index<TAB>file
    provenance.jsonl          per image: file, label, origin ("base" with its lst line, or "review" with the
                              source-ref, the original s3 URI and ETag, the execution, the annotator)
    dataset.json              version, parent, labels, counts, images added by this version, created

Each version builds on the latest one (v1 on the bundled training split), so labels accumulate. Images are
deduplicated by content (sha256): an image already present is not added twice. A version is built in a
staging folder and renamed into place, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageflow.paths import REPO_ROOT
from imageflow.review.groundtruth import Label
from imageflow.review.queue import ReviewQueue

BUNDLED = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle"
DATASET_FILE = "dataset.json"
PROVENANCE_FILE = "provenance.jsonl"


class DatasetVersionError(RuntimeError):
    """A dataset version cannot be built; the message says which image or file."""


def versions(queue: ReviewQueue) -> list[Path]:
    folder = queue.datasets_dir
    found = [p for p in folder.glob("v*") if (p / DATASET_FILE).is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else -1)


def latest(queue: ReviewQueue) -> Path | None:
    found = versions(queue)
    return found[-1] if found else None


def read_info(version_dir: Path) -> dict[str, Any]:
    return json.loads((version_dir / DATASET_FILE).read_text(encoding="utf-8"))


def labelled_refs(version_dir: Path | None) -> dict[str, str]:
    """source-ref -> label of every reviewed image already in a dataset version."""
    if version_dir is None:
        return {}
    refs = {}
    for line in (version_dir / PROVENANCE_FILE).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("origin") == "review":
            refs[entry["source_ref"]] = entry["label"]
    return refs


def build_version(
    queue: ReviewQueue, new_labels: Sequence[Label], labels: Sequence[str], *, source: Path, base: Path = BUNDLED
) -> tuple[Path | None, dict[str, Any]]:
    """Write ``datasets/v<N+1>`` = latest version (else ``base``) + ``new_labels``; returns it and its info.

    When every image is already in the data (same bytes), no version is written: the path is None.
    """
    parent = latest(queue)
    base_dir = parent or base
    records = queue.by_source_ref()
    queue.datasets_dir.mkdir(parents=True, exist_ok=True)
    number = int(parent.name[1:]) + 1 if parent else 1
    target = queue.datasets_dir / f"v{number}"
    staging = Path(tempfile.mkdtemp(prefix=f".v{number}-", dir=queue.datasets_dir))
    try:
        (staging / "train").mkdir()
        (staging / "train_lst").mkdir()
        lst, provenance, seen = [], [], {}
        for entry in _base_entries(base_dir, labels):
            shutil.copy(base_dir / "train" / entry["file"], staging / "train" / entry["file"])
            seen[entry["sha256"]] = entry["file"]
            lst.append(f"{len(lst)}\t{labels.index(entry['label'])}\t{entry['file']}")
            provenance.append(entry)
        added, duplicates = 0, []
        for item in new_labels:
            record = records[item.source_ref]
            image = queue.image_path(record)
            if not image.is_file():
                raise DatasetVersionError(f"{item.source_ref}: its review copy {image} is missing")
            data = image.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                duplicates.append(f"{item.source_ref} (same bytes as {seen[digest]})")
                continue
            name = f"review-{hashlib.md5(data, usedforsecurity=False).hexdigest()}{image.suffix.lower() or '.png'}"
            (staging / "train" / name).write_bytes(data)
            seen[digest] = name
            lst.append(f"{len(lst)}\t{labels.index(item.label)}\t{name}")
            provenance.append(
                {
                    "file": name,
                    "label": item.label,
                    "sha256": digest,
                    "origin": "review",
                    "source_ref": item.source_ref,
                    "original": record.source_uri,
                    "etag": record.etag,
                    "execution_arn": record.execution_arn,
                    "recorded_at": record.recorded_at,
                    "model_label": record.label,
                    "model_confidence": record.confidence,
                    "annotator": item.annotator,
                    "labels_file": f"{source.name}:{item.line}",
                    "dataset_version": target.name,
                }
            )
            added += 1
        (staging / "train_lst" / "train.lst").write_text("\n".join(lst) + "\n", encoding="utf-8")
        (staging / PROVENANCE_FILE).write_text(
            "".join(json.dumps(p, sort_keys=True) + "\n" for p in provenance), encoding="utf-8"
        )
        counts = {name: sum(1 for p in provenance if p["label"] == name) for name in labels}
        info = {
            "version": target.name,
            "parent": parent.name if parent else f"base:{_display(base_dir)}",
            "labels": list(labels),
            "images": len(provenance),
            "counts": counts,
            "reviewed_images": sum(1 for p in provenance if p["origin"] == "review"),
            "added_by_this_version": added,
            "duplicates_skipped": duplicates,
            "labels_file": source.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        (staging / DATASET_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if not added:
            return None, info
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target, info


def _display(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def _base_entries(base_dir: Path, labels: Sequence[str]) -> list[dict[str, Any]]:
    """The base's images with provenance: a dataset version's own file, or the bundled lst read afresh."""
    if (base_dir / PROVENANCE_FILE).is_file():
        lines = (base_dir / PROVENANCE_FILE).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]
    from imageflow.training.data import load_dataset

    dataset = load_dataset(base_dir, tuple(labels), for_training=False)
    return [
        {
            "file": e.path.name,
            "label": labels[e.label],
            "sha256": e.sha256,
            "origin": "base",
            "listed": f"{_display(base_dir)}/{e.origin}",
        }
        for e in sorted(dataset.train, key=lambda e: e.origin)
    ]
