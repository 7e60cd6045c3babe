"""Find data-capture files in a local folder or under an ``s3://bucket/prefix``.

SageMaker writes ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<name>.jsonl``. The hour folders
let a time window skip whole files without reading them; files outside that layout are still
read, just never skipped by time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from imageflow.s3uri import split_s3_uri

CAPTURE_SUFFIX = ".jsonl"
_LAYOUT = re.compile(r"(?:^|/)([^/]+)/([^/]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
# A file in hour folder hh may hold records stamped a little outside that hour (buffered
# writes, clock skew); only prune files whose hour is clearly outside the window.
_PRUNE_MARGIN_SECONDS = 3600


class SourceError(Exception):
    """The source does not exist or cannot be listed."""


@dataclass(frozen=True)
class CaptureFile:
    """One capture file: where it is and what the layout says about it."""

    location: str  # local path or s3://bucket/key
    size: int
    endpoint: str | None = None
    variant: str | None = None
    hour: float | None = None  # epoch seconds of its hour folder

    @property
    def origin(self) -> str:
        """``endpoint/variant`` when the file sits in SageMaker's layout."""
        return f"{self.endpoint}/{self.variant}" if self.endpoint else "(outside SageMaker layout)"


def describe(location: str) -> CaptureFile:
    """Read endpoint, variant and hour from a capture file's path."""
    return _describe(location, 0)


def _describe(location: str, size: int) -> CaptureFile:
    match = _LAYOUT.search(location.replace(os.sep, "/"))
    if not match:
        return CaptureFile(location, size)
    endpoint, variant, *parts = match.groups()
    try:
        hour = datetime(*(int(part) for part in parts), tzinfo=UTC).timestamp()  # type: ignore[misc]
    except ValueError:  # e.g. month 13: not really the layout
        return CaptureFile(location, size)
    return CaptureFile(location, size, endpoint, variant, hour)


def list_capture_files(
    source: str, since: float | None = None, until: float | None = None, s3_client: Any = None
) -> list[CaptureFile]:
    """All ``*.jsonl`` files under ``source`` that may hold records in ``[since, until)``, sorted."""
    found = _list_s3(source, s3_client) if source.startswith("s3://") else _list_local(source)
    return sorted((item for item in found if _may_overlap(item, since, until)), key=lambda item: item.location)


def _may_overlap(item: CaptureFile, since: float | None, until: float | None) -> bool:
    if item.hour is None:
        return True
    if since is not None and item.hour + 3600 + _PRUNE_MARGIN_SECONDS <= since:
        return False
    return not (until is not None and item.hour - _PRUNE_MARGIN_SECONDS >= until)


def _list_local(source: str) -> Iterator[CaptureFile]:
    root = Path(source)
    if root.is_file():
        yield _describe(str(root), root.stat().st_size)
        return
    if not root.is_dir():
        raise SourceError(f"no such file or folder: {source}")
    yield from _walk_local(str(root))


def _walk_local(folder: str) -> Iterator[CaptureFile]:
    """``*.jsonl`` files under ``folder``, like ``os.walk`` (symlinked folders not entered,
    unreadable folders skipped) but with one ``scandir`` entry per file: SageMaker's layout has
    a folder per hour, so a month is ~750 folders, and os.walk's extra per-entry calls showed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _walk_local(entry.path)
        elif entry.name.endswith(CAPTURE_SUFFIX):
            yield _describe(entry.path, entry.stat().st_size)


def _s3(s3_client: Any) -> Any:
    if s3_client is not None:
        return s3_client
    import boto3  # imported late: local reports should not pay for it

    # boto3 reads region, credentials and AWS_ENDPOINT_URL_S3 from the usual environment.
    return boto3.client("s3")


def _list_s3(source: str, s3_client: Any) -> Iterator[CaptureFile]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3_uri(source, SourceError)
    client = _s3(s3_client)
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                if item["Key"].endswith(CAPTURE_SUFFIX):
                    yield _describe(f"s3://{bucket}/{item['Key']}", item["Size"])
    except (BotoCoreError, ClientError) as exc:
        raise SourceError(f"cannot list {source}: {exc}") from exc


@contextmanager
def open_capture(item: CaptureFile, s3_client: Any = None) -> Iterator[BinaryIO]:
    """Open a capture file for streaming binary reads (local file or S3 object body)."""
    if not item.location.startswith("s3://"):
        # Unbuffered: the line splitter reads large chunks itself, so a second buffer only copies.
        with open(item.location, "rb", buffering=0) as handle:
            yield handle  # type: ignore[misc]
        return
    bucket, key = split_s3_uri(item.location, SourceError)
    body = _s3(s3_client).get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield body
    finally:
        body.close()
