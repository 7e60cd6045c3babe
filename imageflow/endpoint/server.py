"""The endpoint over HTTP inside the calling process, on a background thread (tests, embedding).

``imageflow serve`` and the SageMaker container run the same WSGI application (``wsgi.py``) under gunicorn
(``gunicorn_app.py``): worker processes, admission control, no dropped connections. This module is the
lightweight host for code that wants the endpoint object in its own process, e.g. to flush data capture
between calls:

>>> with EndpointServer(endpoint, port=0) as server:   # port 0: pick a free port
...     boto3.client("sagemaker-runtime", endpoint_url=server.url)

Point boto3 at either with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080``.
"""

from __future__ import annotations

import errno
import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from imageflow.endpoint.listener import PortInUseError, port_in_use
from imageflow.endpoint.service import LocalEndpoint
from imageflow.endpoint.wsgi import EndpointApp

__all__ = ["EndpointServer", "PortInUseError", "start_server"]

logger = logging.getLogger(__name__)


class _Handler(WSGIRequestHandler):
    # headers and body go out as separate small writes; with Nagle on, the client's delayed ACK adds ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        # the access log goes through logging, not raw stderr (quiet in tests)
        logger.info("%s - %s", self.address_string(), format % args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung client never blocks shutdown
    allow_reuse_address = True
    request_queue_size = 128


class EndpointServer:
    """The WSGI application around a ``LocalEndpoint``, served from a background thread of this process."""

    def __init__(
        self,
        endpoint: LocalEndpoint,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        max_inflight: int | None = None,
    ) -> None:
        self.app = EndpointApp(endpoint, max_inflight=max_inflight)
        try:
            self._httpd = _ThreadingWSGIServer((host, port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_in_use(host, port) from None
            raise
        self._httpd.set_app(self.app)
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
        self.app.close()

    def __enter__(self) -> EndpointServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    endpoint: LocalEndpoint, host: str = "127.0.0.1", port: int = 0, *, max_inflight: int | None = None
) -> EndpointServer:
    """Start serving ``endpoint`` in a background thread (port 0 = any free port); ``.stop()`` when done."""
    return EndpointServer(endpoint, host, port, max_inflight=max_inflight).start()
