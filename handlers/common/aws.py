"""Thin boto3 adapters: S3 reads and SageMaker endpoint calls, with errors translated.

Clients are created once per container and read their endpoints from the environment
(``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``), which is how the same
code reaches AWS, a local S3 or the local model endpoint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from handlers.common.errors import (
    BucketNotFoundError,
    EndpointModelError,
    EndpointNotFoundError,
    EndpointRequestError,
    EndpointThrottledError,
    EndpointUnavailableError,
    ImageAccessDeniedError,
    ImageNotFoundError,
    ImageTooLargeError,
    too_many_bytes_message,
)
from handlers.common.events import ImageLocation

# The state machine owns retries (with back-off and jitter, visible in the execution
# history), so SDK-level retries are kept to one attempt for the endpoint.
_ENDPOINT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=65, connect_timeout=5)


@functools.cache
def s3_client() -> Any:
    return boto3.client("s3")


@functools.cache
def sagemaker_runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", config=_ENDPOINT_CONFIG)


@dataclass(frozen=True)
class S3Object:
    data: bytes
    etag: str | None
    content_type: str | None


def read_object(location: ImageLocation, *, max_bytes: int, if_match: str | None = None) -> S3Object:
    """Read an object no larger than ``max_bytes``, translating S3 errors to project errors."""
    kwargs: dict[str, Any] = {"Bucket": location.bucket, "Key": location.key}
    if if_match:
        kwargs["IfMatch"] = if_match
    try:
        response = s3_client().get_object(**kwargs)
    except ClientError as exc:
        raise _s3_error(exc, location) from None
    body = response["Body"]
    size = response.get("ContentLength", 0)
    if size > max_bytes:
        body.close()  # do not download what will be rejected
        raise ImageTooLargeError(too_many_bytes_message(location.uri, size, max_bytes))
    return S3Object(body.read(), response.get("ETag"), response.get("ContentType"))


def _s3_error(exc: ClientError, location: ImageLocation) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "NoSuchBucket":
        return BucketNotFoundError(f"The bucket {location.bucket!r} does not exist")
    if code in ("NoSuchKey", "404", "NotFound"):
        return ImageNotFoundError(f"No object {location.uri}")
    if code in ("PreconditionFailed", "412"):
        return ImageNotFoundError(f"{location.uri} changed after it was serialized (ETag mismatch); start again")
    if code in ("AccessDenied", "403"):
        return ImageAccessDeniedError(f"Access denied reading {location.uri}: check the function's role")
    return exc  # unexpected: let the runtime report the AWS error as it is


_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_UNAVAILABLE_CODES = {
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalDependencyException",
    "ModelNotReadyException",
}


def invoke_endpoint(endpoint_name: str, body: bytes, content_type: str) -> bytes:
    """Call the SageMaker endpoint and return its raw answer, translating failures."""
    try:
        response = sagemaker_runtime_client().invoke_endpoint(
            EndpointName=endpoint_name, ContentType=content_type, Accept="application/json", Body=body
        )
        return response["Body"].read()
    except ClientError as exc:
        raise _endpoint_error(exc, endpoint_name) from None
    except (ConnectionError, ReadTimeoutError) as exc:
        raise EndpointUnavailableError(f"Could not reach endpoint {endpoint_name!r}: {exc}") from None
    except BotoCoreError as exc:
        raise EndpointRequestError(f"Calling endpoint {endpoint_name!r} failed: {exc}") from None


def _endpoint_error(exc: ClientError, endpoint_name: str) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "ModelError":
        return EndpointModelError(f"Endpoint {endpoint_name!r}: the model failed on this image: {message}")
    if code in _THROTTLING_CODES or status == 429:
        return EndpointThrottledError(f"Endpoint {endpoint_name!r} throttled the request: {message}")
    if code in _UNAVAILABLE_CODES or (status is not None and status >= 500):
        return EndpointUnavailableError(f"Endpoint {endpoint_name!r} is unavailable ({code or status}): {message}")
    if code == "ValidationError" and "not found" in message.lower():
        return EndpointNotFoundError(f"Endpoint {endpoint_name!r} was not found: {message}")
    return EndpointRequestError(f"Endpoint {endpoint_name!r} rejected the request ({code}): {message}")
