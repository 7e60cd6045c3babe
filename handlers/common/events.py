"""The event shapes passed between the three functions (the original project's contract).

Input of the state machine and of serialize::

    {"s3_bucket": "...", "s3_key": "..."}

Output of each function and input of the next::

    {"statusCode": 200, "body": {"s3_bucket", "s3_key", "image_data" | "image_ref", "inferences", ...}}

``image_ref`` is the claim check used instead of ``image_data`` when the image is too large
to travel inside a Step Functions state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.common.errors import InvalidEventError


def _require_str(data: Mapping[str, Any], key: str, where: str) -> str:
    if key not in data:
        raise InvalidEventError(f"{where} is missing the key {key!r}")
    value = data[key]
    if not isinstance(value, str):
        raise InvalidEventError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidEventError(f"{where}: {key!r} must not be empty")
    return value


def _require_mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ImageLocation:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_image_location(event: object) -> ImageLocation:
    """Read ``s3_bucket``/``s3_key`` from the state machine input."""
    data = _require_mapping(event, "The event")
    return ImageLocation(_require_str(data, "s3_bucket", "The event"), _require_str(data, "s3_key", "The event"))


def parse_body(event: object) -> dict[str, Any]:
    """Return the ``body`` of a previous step's ``{"statusCode": 200, "body": {...}}`` output.

    A body given as a JSON string (as an API Gateway proxy would) is accepted too.
    """
    data = _require_mapping(event, "The event")
    if "body" not in data:
        raise InvalidEventError("The event is missing the key 'body' (pass the previous step's output)")
    status = data.get("statusCode", 200)
    if status != 200:
        raise InvalidEventError(f"The previous step did not succeed (statusCode {status!r}); refusing its body")
    body = data["body"]
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidEventError(f"The event's 'body' is a string but not JSON: {exc}") from None
    body = dict(_require_mapping(body, "The event's 'body'"))
    # Validate the image's identity early: every later message names it.
    _require_str(body, "s3_bucket", "The event's 'body'")
    _require_str(body, "s3_key", "The event's 'body'")
    return body


def body_location(body: Mapping[str, Any]) -> ImageLocation:
    """The image a body (as ``parse_body`` returned it) is about."""
    return ImageLocation(body["s3_bucket"], body["s3_key"])


def parse_image_ref(body: Mapping[str, Any]) -> tuple[ImageLocation, str | None]:
    """Read the claim check (``image_ref``): where the image is and the ETag it had when serialized."""
    ref = _require_mapping(body["image_ref"], "The body's 'image_ref'")
    location = ImageLocation(
        _require_str(ref, "s3_bucket", "The body's 'image_ref'"),
        _require_str(ref, "s3_key", "The body's 'image_ref'"),
    )
    etag = ref.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise InvalidEventError("The body's 'image_ref': 'etag' must be a string")
    return location, etag


def response(body: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap a body in the original project's Lambda response shape."""
    return {"statusCode": 200, "body": dict(body)}
