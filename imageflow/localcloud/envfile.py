"""The environment that points boto3, osls and the handlers at the local services."""

from __future__ import annotations

import shlex
from pathlib import Path

from imageflow.localcloud import settings


def local_environment(aws_port: int, endpoint_port: int) -> dict[str, str]:
    """Variables for a shell (or subprocess) that should use the local cloud instead of AWS."""
    return {
        "AWS_ENDPOINT_URL": settings.aws_url(aws_port),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": settings.endpoint_url(endpoint_port),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": settings.REGION,
        "AWS_REGION": settings.REGION,
        "ENDPOINT_NAME": settings.ENDPOINT_NAME,
        "IMAGES_BUCKET": settings.IMAGES_BUCKET,
        "INLINE_IMAGE_MAX_BYTES": str(settings.LOCAL_INLINE_IMAGE_MAX_BYTES),
    }


def render(env: dict[str, str]) -> str:
    """A file a POSIX shell can ``source``."""
    lines = [
        "# Written by `imageflow local start`: point AWS SDKs, osls and the handlers at the local services.",
        "# Use: source .local/local.env   (undo: open a new shell)",
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, env: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(env), encoding="utf-8")
