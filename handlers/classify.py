"""Classify: send the image to the SageMaker endpoint and record its class probabilities."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from handlers.common import aws
from handlers.common.config import ClassifySettings
from handlers.common.errors import InvalidImageDataError
from handlers.common.events import body_location, parse_body, parse_image_ref, response
from handlers.common.inferences import best_prediction, parse_endpoint_response
from handlers.common.observability import bind_invocation, logger


@functools.cache
def settings() -> ClassifySettings:
    return ClassifySettings.from_env()


def _image_bytes(body: dict[str, Any], max_bytes: int) -> bytes:
    if "image_data" in body:
        data = body.pop("image_data")  # dropped once used: results stay small
        if not isinstance(data, str) or not data:
            raise InvalidImageDataError("'image_data' must be a non-empty base64 string")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidImageDataError(f"'image_data' is not valid base64: {exc}") from None
    if "image_ref" in body:
        location, etag = parse_image_ref(body)
        del body["image_ref"]
        return aws.read_object(location, max_bytes=max_bytes, if_match=etag).data
    raise InvalidImageDataError("The body has neither 'image_data' nor 'image_ref': pass serialize's output")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    body = parse_body(event)
    bind_invocation(event, context, s3_uri=body_location(body).uri)

    data = _image_bytes(body, config.max_image_bytes)
    content_type = body.get("content_type") or "image/png"
    if len(data) > config.endpoint_max_payload_bytes:
        # Imported here: Pillow is only needed for the rare oversized image, not on every cold start.
        from handlers.common.images import shrink_for_endpoint

        data, content_type = shrink_for_endpoint(data, config.endpoint_max_payload_bytes)

    answer = aws.invoke_endpoint(config.endpoint_name, data, content_type)
    probabilities = parse_endpoint_response(answer, config.labels)
    best = best_prediction(probabilities, config.labels)
    body.update(inferences=probabilities, label=best.label, confidence=best.confidence)
    logger.info("Image classified", extra={"label": best.label, "confidence": best.confidence})
    return response(body)
