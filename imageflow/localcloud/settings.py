"""Names and defaults the local cloud shares with ``serverless.yml`` (``params: local``) and ``events/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imageflow.paths import REPO_ROOT, SAMPLES_DIR

HOST = "127.0.0.1"  # loopback only: nothing here is meant to be reachable from another machine
DEFAULT_AWS_PORT = 4566
DEFAULT_ENDPOINT_PORT = 8080
REGION = "us-east-1"
# The endpoint name serverless.yml gives classify by default, so `sls invoke local` (stage dev) and the
# deployed local stage both reach the local endpoint without extra flags.
ENDPOINT_NAME = "image-classifier"
# Must match `params: local: imagesBucket` in serverless.yml and the buckets named in events/*.json.
IMAGES_BUCKET = "imageflow-local-images"
CAPTURE_BUCKET = "imageflow-local-datacapture"
CAPTURE_PREFIX = "datacapture"
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg")
# osls `invoke local` writes the handler's stdout in 64 KiB pieces with a newline after each, which
# corrupts a larger result (the base64 image serialize returns inline) and breaks piping one
# function into the next. Below this many bytes, images still go inline; larger ones by reference.
LOCAL_INLINE_IMAGE_MAX_BYTES = 40_000


@dataclass(frozen=True)
class Ports:
    aws: int = DEFAULT_AWS_PORT
    endpoint: int = DEFAULT_ENDPOINT_PORT


def aws_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def endpoint_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def sample_images(samples_dir: Path = SAMPLES_DIR) -> list[Path]:
    """The demo images seeded into the images bucket (by file name)."""
    return sorted(p for p in samples_dir.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES and p.is_file())
