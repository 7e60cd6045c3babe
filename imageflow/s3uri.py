"""``s3://bucket/key`` URIs, as every command of the CLI accepts them."""

from __future__ import annotations

S3_SCHEME = "s3://"


def split_s3_uri(uri: str, error: type[Exception] = ValueError) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; ``error`` names what is wrong."""
    if not uri.startswith(S3_SCHEME):
        raise error(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise error(f"{uri!r} has no bucket name (expected s3://bucket/prefix)")
    return bucket, key
