"""HTTP front of the local endpoint, speaking SageMaker runtime's REST-JSON API.

Routes:
  POST /endpoints/{EndpointName}/invocations   InvokeEndpoint, what boto3's ``sagemaker-runtime`` calls
  POST /invocations, GET /ping                 the SageMaker model-container contract (curl, health checks)

Point boto3 at it with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080``.
Errors carry ``x-amzn-ErrorType`` and a ``{"__type", "message", ...}`` body, which botocore's rest-json parser
turns into ``client.exceptions.ValidationError`` / ``ModelError`` with the message, as against AWS.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from imageflow.endpoint.service import EndpointError, LocalEndpoint, ValidationError

logger = logging.getLogger(__name__)

_INVOCATIONS_PREFIX = "/endpoints/"
_INVOCATIONS_SUFFIX = "/invocations"


class PortInUseError(OSError):
    """The requested host:port is already taken."""


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps boto3's pooled connections alive across calls; every response sets Content-Length
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate small writes; with Nagle on, the client's delayed ACK adds ~40 ms
    disable_nagle_algorithm = True
    server_version = "imageflow-local-sagemaker"
    server: _EndpointHTTPServer

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/ping":
            self._send(HTTPStatus.OK, b'{"status": "Healthy"}', "application/json")
        else:
            self._send_error(EndpointError(f"No route for GET {self.path}", "UnknownOperationException", 404))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
            if path == "/invocations":
                name = self.server.endpoint.endpoint_name
            elif path.startswith(_INVOCATIONS_PREFIX) and path.endswith(_INVOCATIONS_SUFFIX):
                name = unquote(path[len(_INVOCATIONS_PREFIX) : -len(_INVOCATIONS_SUFFIX)])
            else:
                raise EndpointError(f"No route for POST {path}", "UnknownOperationException", 404)
            result = self.server.endpoint.invoke(
                name,
                body,
                content_type=self.headers.get("Content-Type", ""),
                accept=self.headers.get("Accept"),
                inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"),
            )
        except EndpointError as exc:
            self._send_error(exc)
            return
        except Exception as exc:  # keep serving: one bad request must not take the server down
            logger.exception("unexpected failure handling %s", path)
            self._send_error(EndpointError(f"Internal failure: {type(exc).__name__}: {exc}"))
            return
        self._send(
            HTTPStatus.OK,
            result,
            "application/json",
            {"x-Amzn-Invoked-Production-Variant": self.server.endpoint.variant_name},
        )

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunked()
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ValidationError(f"Invalid Content-Length {length!r}") from None
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, then the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after each chunk

    def _send_error(self, exc: EndpointError) -> None:
        body = json.dumps(exc.to_body()).encode("utf-8")
        self._send(exc.http_status, body, "application/json", {"x-amzn-ErrorType": exc.code})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # route the access log through logging instead of raw stderr (quiet in tests, -v in the CLI)
        logger.info("%s - %s", self.address_string(), format % args)


class _EndpointHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never blocks shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(address, _Handler)


class EndpointServer:
    """The HTTP server around a ``LocalEndpoint``, on a background thread.

    >>> with EndpointServer(endpoint, port=0) as server:   # port 0: pick a free port
    ...     boto3.client("sagemaker-runtime", endpoint_url=server.url)
    """

    def __init__(self, endpoint: LocalEndpoint, host: str = "127.0.0.1", port: int = 8080) -> None:
        try:
            self._httpd = _EndpointHTTPServer((host, port), endpoint)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    exc.errno, f"port {port} on {host} is already in use (choose another with --port)"
                ) from None
            raise
        self.endpoint = endpoint
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EndpointServer:
        """Serve on a daemon thread and return at once."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-sagemaker", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until ``stop()`` or KeyboardInterrupt."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving, close the socket and flush the endpoint's data capture."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self.endpoint.close()

    def __enter__(self) -> EndpointServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(endpoint: LocalEndpoint, host: str = "127.0.0.1", port: int = 0) -> EndpointServer:
    """Start serving ``endpoint`` in a background thread (port 0 = any free port); ``.stop()`` when done."""
    return EndpointServer(endpoint, host, port).start()
