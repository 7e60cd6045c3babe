"""The endpoint as a WSGI application: what every HTTP server in the project serves.

Routes:
  POST /endpoints/{EndpointName}/invocations   InvokeEndpoint, what boto3's ``sagemaker-runtime`` calls
  POST /invocations, GET /ping                 the SageMaker model-container contract

``/endpoints/{name}/invocations`` answers as SageMaker runtime does: errors carry ``x-amzn-ErrorType`` and a
``{"__type", "message", ...}`` body, which botocore's rest-json parser turns into
``client.exceptions.ValidationError`` / ``ModelError``. ``/invocations`` answers as a model container does
inside SageMaker: a model failure is the container's own status (400, 406, 415, 500) with the message as
plain text, which SageMaker runtime then reports to its caller as ``ModelError`` (``OriginalStatusCode``,
``OriginalMessage``), so a deployed container's errors are not wrapped twice.

Admission control: at most ``max_inflight`` invocations run at once in one process. One more is answered at
once with HTTP 429 ``ThrottlingException`` (botocore raises it as a ``ClientError`` with that code; the
state machine retries it as ``EndpointThrottledError``) instead of waiting in a queue that grows until
clients time out. ``/ping`` is never throttled: a busy endpoint is still a healthy one.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from imageflow.endpoint.service import (
    MAX_PAYLOAD_BYTES,
    EndpointError,
    LocalEndpoint,
    ModelError,
    ThrottlingError,
    ValidationError,
)

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

_INVOCATIONS_PREFIX = "/endpoints/"
_INVOCATIONS_SUFFIX = "/invocations"
_READ_CHUNK = 256 * 1024
_PING_BODY = b'{"status": "Healthy"}'


class Admission:
    """Bounds the invocations one process holds: ``concurrency`` run the model, up to ``max_inflight`` in all.

    Admitted requests beyond ``concurrency`` wait their turn (holding only their request bytes, not a decoded
    image); a request that would exceed ``max_inflight`` is refused at once instead of waiting.
    """

    def __init__(self, max_inflight: int, concurrency: int) -> None:
        if max_inflight < 1 or concurrency < 1:
            raise ValueError(f"max_inflight ({max_inflight}) and concurrency ({concurrency}) must be at least 1")
        self.max_inflight = max_inflight
        self.concurrency = min(concurrency, max_inflight)
        self._admitted = threading.BoundedSemaphore(max_inflight)
        self._running = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self.throttled = 0  # requests refused so far (for logs and tests)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Run the body when admitted; raise ``ThrottlingError`` at once when full."""
        if not self._admitted.acquire(blocking=False):
            with self._lock:
                self.throttled += 1
            raise ThrottlingError(
                f"Rate exceeded: this endpoint worker already holds {self.max_inflight} invocations; "
                "retry with back-off."
            )
        try:
            with self._running:
                yield
        finally:
            self._admitted.release()


class EndpointApp:
    """WSGI callable serving one ``LocalEndpoint``; ``max_inflight=None`` admits every request."""

    def __init__(
        self, endpoint: LocalEndpoint, *, max_inflight: int | None = None, concurrency: int | None = None
    ) -> None:
        self.endpoint = endpoint
        self.admission = Admission(max_inflight, concurrency or max_inflight) if max_inflight else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        container_route = path == "/invocations"
        try:
            if path == "/ping" and method == "GET":
                return _respond(start_response, HTTPStatus.OK, _PING_BODY, "application/json")
            name = self._endpoint_name(method, path)
            body = _read_body(environ)
            result = self._invoke(name, body, environ)
        except ModelError as exc:
            if container_route:
                return _respond(start_response, exc.original_status_code, exc.original_message.encode(), "text/plain")
            return _respond_error(start_response, exc)
        except EndpointError as exc:
            return _respond_error(start_response, exc)
        except Exception as exc:  # keep serving: one bad request must not take the worker down
            logger.exception("unexpected failure handling %s %s", method, path)
            return _respond_error(start_response, EndpointError(f"Internal failure: {type(exc).__name__}: {exc}"))
        return _respond(
            start_response,
            HTTPStatus.OK,
            result,
            "application/json",
            [("x-Amzn-Invoked-Production-Variant", self.endpoint.variant_name)],
        )

    def close(self) -> None:
        """Flush the endpoint's data capture (called when a worker or server stops)."""
        self.endpoint.close()

    def _endpoint_name(self, method: str, path: str) -> str:
        if method == "POST" and path == "/invocations":
            return self.endpoint.endpoint_name
        if method == "POST" and path.startswith(_INVOCATIONS_PREFIX) and path.endswith(_INVOCATIONS_SUFFIX):
            return unquote(path[len(_INVOCATIONS_PREFIX) : -len(_INVOCATIONS_SUFFIX)])
        raise EndpointError(f"No route for {method} {path}", "UnknownOperationException", 404)

    def _invoke(self, name: str, body: bytes, environ: dict[str, Any]) -> bytes:
        with self.admission.admit() if self.admission is not None else nullcontext():
            return self.endpoint.invoke(
                name,
                body,
                content_type=environ.get("CONTENT_TYPE", ""),
                accept=environ.get("HTTP_ACCEPT"),
                inference_id=environ.get("HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"),
            )


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read whole even when too large (so the connection stays usable for the answer)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        try:
            remaining: int | None = int(length)
        except ValueError:
            raise ValidationError(f"Invalid Content-Length {length!r}") from None
        if remaining < 0:
            raise ValidationError(f"Invalid Content-Length {length!r}")
    elif environ.get("wsgi.input_terminated"):
        remaining = None  # the server decoded a chunked body and signals its end
    else:
        return b""
    chunks: list[bytes] = []
    kept = total = 0
    while remaining is None or remaining > 0:
        chunk = stream.read(_READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining))
        if not chunk:
            break
        total += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
        if kept <= MAX_PAYLOAD_BYTES:  # past the limit, drain without keeping
            chunks.append(chunk)
            kept += len(chunk)
    if total > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"Request payload of {total} bytes exceeds the InvokeEndpoint limit of {MAX_PAYLOAD_BYTES} bytes."
        )
    return b"".join(chunks)


def _respond_error(start_response: StartResponse, exc: EndpointError) -> list[bytes]:
    body = json.dumps(exc.to_body()).encode("utf-8")
    return _respond(start_response, exc.http_status, body, "application/json", [("x-amzn-ErrorType", exc.code)])


def _respond(
    start_response: StartResponse,
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        _status_line(status),
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *(headers or []),
        ],
    )
    return [body]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:  # a status http.HTTPStatus does not name
        return f"{status} Unknown"
