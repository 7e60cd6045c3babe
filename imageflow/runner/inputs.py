"""What ``imageflow run`` was asked to classify: files, folders and ``s3://`` prefixes.

Every input becomes one ``ImageInput`` and later exactly one outcome. Folders are walked
recursively; every regular file in them is an input, images or not (a stray text file ends
as a ``NotAnImageError`` outcome rather than being silently skipped), except hidden files
and folders (names starting with ``.``, e.g. ``.DS_Store``, ``.git``), which are never
meant as images.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imageflow.s3uri import S3_SCHEME, split_s3_uri

# Step Functions execution names: 1-80 characters, no whitespace, brackets, wildcards,
# control characters or any of " # % \ ^ | ~ ` $ & , ; : /
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_EXECUTION_NAME = 80


class InputError(ValueError):
    """A command-line input that cannot be used (no such path, nothing to classify)."""


@dataclass(frozen=True)
class ImageInput:
    """One thing to classify: a local file, or an object already in S3."""

    source: str  # as the user knows it: a path or an s3:// URI
    path: Path | None = None
    bucket: str | None = None
    key: str | None = None

    @property
    def in_s3(self) -> bool:
        return self.bucket is not None

    @property
    def name(self) -> str:
        """The file name part, for keys and execution names."""
        return (self.key or "").rsplit("/", 1)[-1] if self.in_s3 else (self.path.name if self.path else "")

    def read_bytes(self) -> bytes:
        if self.path is None:
            raise InputError(f"{self.source} is not a local file")
        return self.path.read_bytes()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix), or an InputError."""
    return split_s3_uri(uri, InputError)


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def list_s3(bucket: str, prefix: str, s3_client: Any) -> Iterator[ImageInput]:
    """Every object under ``prefix`` (folder placeholder keys ending in ``/`` excepted)."""
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                yield ImageInput(f"s3://{bucket}/{item['Key']}", bucket=bucket, key=item["Key"])


def expand_inputs(arguments: Sequence[str], s3_client_factory: Callable[[], Any] | None = None) -> list[ImageInput]:
    """Expand command-line arguments into inputs, in argument order (folders sorted).

    Raises ``InputError`` for a path that does not exist, an S3 prefix with no objects, or
    when nothing at all is left to classify. The same file named twice is one input.
    """
    inputs: list[ImageInput] = []
    seen: set[str] = set()
    s3_client = None

    def add(item: ImageInput) -> None:
        identity = item.source if item.in_s3 else str(item.path.resolve() if item.path else item.source)
        if identity not in seen:
            seen.add(identity)
            inputs.append(item)

    for argument in arguments:
        if argument.startswith(S3_SCHEME):
            bucket, prefix = parse_s3_uri(argument)
            if s3_client is None:
                if s3_client_factory is None:
                    raise InputError(f"{argument}: S3 inputs are not supported here")
                s3_client = s3_client_factory()
            found = list(list_s3(bucket, prefix, s3_client))
            if not found:
                raise InputError(f"no objects under {argument}")
            for item in found:
                add(item)
            continue
        path = Path(argument)
        if path.is_dir():
            for file in _walk(path):
                add(ImageInput(str(file), path=file))
        elif path.is_file():
            add(ImageInput(str(path), path=path))
        elif path.exists():
            raise InputError(f"{argument} is neither a file nor a folder")
        else:
            raise InputError(f"no such file or folder: {argument}")
    if not inputs:
        raise InputError(f"nothing to classify in {' '.join(arguments)} (no files found)")
    return inputs


def execution_name(run_id: str, index: int, item: ImageInput) -> str:
    """A valid, unique Step Functions execution name: ``<run id>-<index>-<file stem>``."""
    stem = _NAME_UNSAFE.sub("-", item.name.rsplit(".", 1)[0]).strip("-") or "image"
    return f"{run_id}-{index:05d}-{stem}"[:MAX_EXECUTION_NAME]


def upload_key(run_id: str, index: int, item: ImageInput, prefix: str = "uploads") -> str:
    """Where a local file goes in the bucket; the index keeps same-named files apart."""
    name = _NAME_UNSAFE.sub("-", item.name).strip("-") or "image"
    return f"{prefix}/{run_id}/{index:05d}-{name}"
