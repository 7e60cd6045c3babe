"""Answer the handlers' ``s3.GetObject`` from moto's S3 backend in-process.

moto would answer the same call after botocore serializes it and moto parses it back
(URL matching, a spooled copy of the body, response headers): for the few hundred KiB of a
photo that is most of a task's Python time. The local bucket lives in this process, so the
bridge reads the object from moto's backend and returns what S3 returns, including the
errors the handlers translate (NoSuchBucket, NoSuchKey, PreconditionFailed on ``IfMatch``).
Anything it does not model (ranges, versions, SSE-C) goes on to moto unchanged.
"""

from __future__ import annotations

from typing import Any

from imageflow.motopatch.private import BucketMissing, LocalS3
from imageflow.runner.botocore_hooks import error, streaming, success

# Request headers the bridge understands; any other one (Range, If-None-Match, SSE-C...) or
# any query parameter (versionId, partNumber, response-*) defers to moto.
_KNOWN_HEADERS = {"user-agent", "x-amz-checksum-mode", "if-match"}


class S3Bridge:
    def __init__(self, account: str, partition: str = "aws") -> None:
        self._backend = LocalS3(account, partition)

    def before_call(self, params: dict[str, Any], **_: Any) -> Any:
        """botocore ``before-call.s3.GetObject`` handler."""
        headers = {name.lower(): value for name, value in params.get("headers", {}).items()}
        request = params.get("context", {}).get("input_params", {})
        if params.get("query_string") or set(headers) - _KNOWN_HEADERS or not {"Bucket", "Key"} <= set(request):
            return None
        bucket, key = request["Bucket"], request["Key"]
        try:
            found = self._backend.get_object(bucket, key)
        except BucketMissing:
            return error("NoSuchBucket", "The specified bucket does not exist", 404)
        if found is None:
            return error("NoSuchKey", "The specified key does not exist.", 404)
        value, etag, content_type = found
        if "if-match" in headers and headers["if-match"].strip('"') != etag.strip('"'):
            return error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
        return success(
            {
                "Body": streaming(value),
                "ContentLength": len(value),
                "ETag": etag,
                "ContentType": content_type or "binary/octet-stream",
            }
        )
