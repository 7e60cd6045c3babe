"""Configuration from the environment (set from stage parameters in serverless.yml).

Each function reads only what it needs and validates it once per container, so a
misconfigured stage fails on its first invocation with a message naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.common.errors import ConfigurationError

DEFAULT_THRESHOLD = 0.73
DEFAULT_LABELS = ("bicycle", "motorcycle")
# Step Functions caps a state's input/output at 256 KiB. Images up to this many raw bytes
# travel inline as base64 (4/3 larger, so about 200 KiB); larger ones go by reference.
DEFAULT_INLINE_IMAGE_MAX_BYTES = 150_000
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
# SageMaker real-time inference accepts at most 6 MB per request; leave headroom for headers.
DEFAULT_ENDPOINT_MAX_PAYLOAD_BYTES = 5 * 1024 * 1024


def _get_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_threshold(raw: str | None) -> float:
    """Parse THRESHOLD: a probability in (0, 1]."""
    if raw is None or not raw.strip():
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"THRESHOLD must be a number in (0, 1], got {raw!r}") from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ConfigurationError(f"THRESHOLD must be a number in (0, 1], got {raw!r}")
    return value


def parse_labels(raw: str | None) -> tuple[str, ...]:
    """Parse LABELS: comma-separated, unique, non-empty class names in the endpoint's order."""
    if raw is None or not raw.strip():
        return DEFAULT_LABELS
    labels = tuple(part.strip() for part in raw.split(","))
    if any(not label for label in labels):
        raise ConfigurationError(f"LABELS must be comma-separated non-empty names, got {raw!r}")
    if len(set(labels)) != len(labels):
        raise ConfigurationError(f"LABELS must not repeat a name, got {raw!r}")
    return labels


@dataclass(frozen=True)
class SerializeSettings:
    inline_image_max_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    # The bucket the stage serves (IMAGES_BUCKET); None accepts any bucket the role may read.
    images_bucket: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SerializeSettings:
        return cls(
            inline_image_max_bytes=_get_int(env, "INLINE_IMAGE_MAX_BYTES", DEFAULT_INLINE_IMAGE_MAX_BYTES),
            max_image_bytes=_get_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
            max_image_pixels=_get_int(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS),
            images_bucket=env.get("IMAGES_BUCKET", "").strip() or None,
        )


@dataclass(frozen=True)
class ClassifySettings:
    endpoint_name: str
    labels: tuple[str, ...]
    endpoint_max_payload_bytes: int
    max_image_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClassifySettings:
        endpoint_name = env.get("ENDPOINT_NAME", "").strip()
        if not endpoint_name:
            raise ConfigurationError("ENDPOINT_NAME is not set: name the SageMaker endpoint to call")
        return cls(
            endpoint_name=endpoint_name,
            labels=parse_labels(env.get("LABELS")),
            endpoint_max_payload_bytes=_get_int(env, "ENDPOINT_MAX_PAYLOAD_BYTES", DEFAULT_ENDPOINT_MAX_PAYLOAD_BYTES),
            max_image_bytes=_get_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
        )


@dataclass(frozen=True)
class ThresholdSettings:
    threshold: float
    labels: tuple[str, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ThresholdSettings:
        return cls(threshold=parse_threshold(env.get("THRESHOLD")), labels=parse_labels(env.get("LABELS")))
