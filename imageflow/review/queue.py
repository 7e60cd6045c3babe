"""The review queue on disk: what an offline ``imageflow run`` leaves for ``imageflow review`` to use.

The local bucket is moto's, in process memory, gone when the run ends. So the review prefix is moved to a
folder that outlives the run (``$IMAGEFLOW_REVIEW``, else ``.local/review/``) as executions end, rather than
kept in memory for the whole run::

    records/<execution>/<key>.json   the records, as the state machine wrote them (layout.py)
    images/<execution>/<key>         the review copies
    exported.jsonl                   source-refs already exported, one per line (an export writes each once)
    datasets/v<N>/                   dataset versions built by ``imageflow review import``
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from imageflow.paths import REPO_ROOT
from imageflow.review.layout import IMAGES_PREFIX, PREFIX, RECORDS_PREFIX, ReviewRecord, parse_record

QUEUE_ENV = "IMAGEFLOW_REVIEW"
DEFAULT_QUEUE = REPO_ROOT / ".local" / "review"


class ReviewQueue:
    """A review queue folder. One writer at a time (one person's machine)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def open(cls, root: Path | None = None) -> ReviewQueue:
        return cls(Path(root or os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE))

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    def image_path(self, record: ReviewRecord) -> Path:
        return self.root / "images" / record.copy_key.removeprefix(IMAGES_PREFIX)

    def records(self) -> list[ReviewRecord]:
        """Every record, oldest first."""
        found = []
        for file in sorted(self.records_dir.rglob("*.json")) if self.records_dir.is_dir() else []:
            found.append(parse_record(json.loads(file.read_text(encoding="utf-8")), str(file)))
        return sorted(found, key=lambda r: (r.recorded_at, r.execution_arn))

    def by_source_ref(self) -> dict[str, ReviewRecord]:
        return {record.source_ref: record for record in self.records()}

    def exported(self) -> set[str]:
        file = self.root / "exported.jsonl"
        if not file.is_file():
            return set()
        return {json.loads(line)["source-ref"] for line in file.read_text(encoding="utf-8").splitlines() if line}

    def mark_exported(self, source_refs: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "exported.jsonl").open("a", encoding="utf-8") as handle:
            for ref in source_refs:
                handle.write(json.dumps({"source-ref": ref}) + "\n")

    def write_object(self, key: str, body: bytes) -> Path:
        """Store one object of the bucket's review/ prefix at its place in the folder."""
        if not key.startswith(PREFIX):
            raise ValueError(f"{key} is not under {PREFIX}")
        relative = key.removeprefix(PREFIX)
        target = (self.root / relative).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise ValueError(f"{key} would leave the review folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(body)
        partial.replace(target)
        return target


def move_objects(
    read: Callable[[str], bytes | None],
    delete: Callable[[list[str]], None],
    queue: ReviewQueue,
    keys: Iterable[str],
) -> int:
    """Move review objects into the queue folder: each written there, then all deleted from where they were.

    ``read(key)`` returns an object's bytes, None when it is gone (then it is skipped); ``delete`` gets the
    keys written. Images go first and records last, so a record on disk always has its image beside it.
    Returns the records moved.
    """
    written = []
    for key in sorted(keys, key=lambda k: k.startswith(RECORDS_PREFIX)):  # stable: images, then records
        body = read(key)
        if body is None:
            continue
        queue.write_object(key, body)
        written.append(key)
    if written:
        delete(written)
    return sum(key.startswith(RECORDS_PREFIX) for key in written)


def review_keys(s3_client: Any, bucket: str) -> list[str]:
    """Every key under the bucket's review/ prefix."""
    keys = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys
