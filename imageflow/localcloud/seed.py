"""Create the local buckets and upload the demo images, so events/ and `sls invoke stepf` find them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3

from imageflow.localcloud import settings


def s3_client(aws_port: int) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.aws_url(aws_port),
        region_name=settings.REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def seed(aws_port: int, images: Iterable[Path] | None = None) -> list[str]:
    """Create the images and capture buckets (if missing) and upload ``images``; return the keys written."""
    client = s3_client(aws_port)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    for bucket in (settings.IMAGES_BUCKET, settings.CAPTURE_BUCKET):
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
    keys = []
    for path in images if images is not None else settings.sample_images():
        client.upload_file(str(path), settings.IMAGES_BUCKET, path.name)
        keys.append(path.name)
    seed_base_dataset(client)
    return keys


def seed_base_dataset(client: Any) -> None:
    """The bundled training split where retrainModel's empty input looks for it (retrainBaseDatasetPrefix)."""
    from imageflow.review.dataset import BUNDLED

    for channel in ("train", "train_lst"):
        for path in sorted((BUNDLED / channel).iterdir()):
            client.put_object(
                Bucket=settings.IMAGES_BUCKET, Key=f"review/datasets/base/{channel}/{path.name}", Body=path.read_bytes()
            )
