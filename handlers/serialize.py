"""Serialize: read the image from S3, check it, and pass it on (inline or by reference)."""

from __future__ import annotations

import base64
import functools
from typing import Any

from handlers.common import aws
from handlers.common.config import SerializeSettings
from handlers.common.errors import InvalidEventError
from handlers.common.events import parse_image_location, response
from handlers.common.images import inspect_image
from handlers.common.observability import bind_invocation, logger


@functools.cache
def settings() -> SerializeSettings:
    return SerializeSettings.from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    location = parse_image_location(event)
    bind_invocation(event, context, s3_uri=location.uri)
    if config.images_bucket and location.bucket != config.images_bucket:
        # IAM would refuse it too; say why instead of "access denied".
        raise InvalidEventError(
            f"{location.uri} is not in this stage's images bucket {config.images_bucket!r}: upload it there"
        )

    obj = aws.read_object(location, max_bytes=config.max_image_bytes)
    info = inspect_image(
        obj.data, max_bytes=config.max_image_bytes, max_pixels=config.max_image_pixels, name=location.uri
    )
    body: dict[str, Any] = {
        "s3_bucket": location.bucket,
        "s3_key": location.key,
        "content_type": info.content_type,
        "image_size": info.size_bytes,
        "inferences": [],
    }
    if info.size_bytes <= config.inline_image_max_bytes:
        body["image_data"] = base64.b64encode(obj.data).decode("ascii")
    else:
        # Claim check: the state would exceed Step Functions' 256 KiB limit, so classify
        # reads the same object itself; the ETag makes sure it is still the image checked here.
        body["image_ref"] = {"s3_bucket": location.bucket, "s3_key": location.key, "etag": obj.etag}
    logger.info(
        "Image serialized",
        extra={"format": info.format, "width": info.width, "height": info.height, "inline": "image_data" in body},
    )
    return response(body)
