"""Answer selected boto3 calls in-process, the way the real service would have answered.

A botocore ``before-call`` handler that returns ``(http_response, parsed)`` short-circuits
the request: the client then parses errors and results exactly as for a real response, so
the caller (moto's interpreter, a handler) cannot tell the difference.
"""

from __future__ import annotations

import io
import uuid
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def _metadata(status: int) -> dict[str, Any]:
    # every AWS answer carries a request id; callers such as moto's interpreter quote it in error causes
    return {"RequestId": uuid.uuid4().hex, "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


def success(parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    parsed.setdefault("ResponseMetadata", _metadata(status))
    return AWSResponse("local://", status, {}, None), parsed


def error(code: str, message: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": _metadata(status),
    }
    return AWSResponse("local://", status, {}, None), parsed


def path_parameter(request_dict: dict[str, Any], after: str) -> str:
    """The URL path segment following ``after`` (e.g. the function name after 'functions')."""
    parts = request_dict["url_path"].split("?")[0].split("/")
    return unquote(parts[parts.index(after) + 1])


def body_bytes(request_dict: dict[str, Any]) -> bytes:
    body = request_dict.get("body") or b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return bytes(body)
