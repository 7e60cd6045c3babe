"""The endpoint under gunicorn, configured the way SageMaker configures a model server.

``imageflow serve`` and ``imageflow-container serve`` both come here with a zero-argument factory that
returns a ready ``LocalEndpoint``. gunicorn's master forks worker processes; each calls the factory once
(an onnxruntime session must not cross a fork) and serves ``EndpointApp`` with gthread: a poller for idle
keep-alive connections plus a pool of request threads.

Settings, from SageMaker's environment first, then the project's own variables (options of
``imageflow serve`` override both):

* ``SAGEMAKER_MODEL_SERVER_WORKERS`` (default: the CPUs available): worker processes.
* ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (default 60, as in SageMaker's own model servers): seconds a worker
  may stay silent before the master restarts it, and the grace period of a graceful stop.
* ``IMAGEFLOW_MAX_INFLIGHT`` (default 32): invocations one worker holds at once, running or waiting; one
  more is answered HTTP 429 ``ThrottlingException`` at once.
* ``IMAGEFLOW_MODEL_CONCURRENCY`` (default 2): of those, how many run the model at once; the others wait
  their turn with only their request bytes in memory.
* ``IMAGEFLOW_HTTP_THREADS`` (default: the in-flight limit + 16): request threads per worker. The ones
  beyond the in-flight limit answer the 429s, so there must be more than that limit.

The onnxruntime threads per worker default to the CPUs shared out among the workers.

Why no connection is dropped: the listening socket's backlog is 2048 (the standard library server had 5),
each worker holds up to 1,000 connections, kept-alive connections wait in the poller rather than in a
thread, and excess work is refused with an answer (429) rather than by closing the connection.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

if TYPE_CHECKING:  # the master never imports these: see preflight()
    from imageflow.endpoint.service import LocalEndpoint
    from imageflow.endpoint.wsgi import EndpointApp

logger = logging.getLogger(__name__)

EndpointFactory = Callable[[], "LocalEndpoint"]

WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
MAX_INFLIGHT_ENV = "IMAGEFLOW_MAX_INFLIGHT"
CONCURRENCY_ENV = "IMAGEFLOW_MODEL_CONCURRENCY"
HTTP_THREADS_ENV = "IMAGEFLOW_HTTP_THREADS"

DEFAULT_TIMEOUT_SECONDS = 60  # SageMaker's model servers use 60 s when the variable is unset
# Per worker: with two workers on 2 cores (about 30-60 images/s), 64 held invocations wait about 1-2 s at
# most; TorchServe's job queue (100 per model) is of the same order.
DEFAULT_MAX_INFLIGHT = 32
DEFAULT_CONCURRENCY = 2
SPARE_HTTP_THREADS = 16  # request threads beyond the in-flight limit: they answer the 429s
BACKLOG = 2048
WORKER_CONNECTIONS = 1000
# Longer than any client's pause between calls, so a pooled connection is rarely closed under a client
# that is about to reuse it (the one race keep-alive cannot exclude); nginx's default.
KEEPALIVE_SECONDS = 75


class ServerSettingsError(ValueError):
    """A server setting (environment variable or option) is invalid; the message names it."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerSettings:
    """How many processes and threads serve, and when to refuse work."""

    workers: int
    timeout: int
    max_inflight: int
    concurrency: int
    http_threads: int
    model_threads: int  # onnxruntime intra-op threads per worker
    backlog: int = BACKLOG
    keepalive: int = KEEPALIVE_SECONDS

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        cpus: int | None = None,
        **overrides: int | None,
    ) -> ServerSettings:
        """Settings from ``environ`` (default ``os.environ``); non-None ``overrides`` (CLI options) win.

        ``model_threads`` defaults to the CPUs shared out among the workers, so that workers x threads
        does not oversubscribe the machine.
        """
        environ = os.environ if environ is None else environ
        cpus = cpus or available_cpus()
        settings = cls(
            workers=_positive_int(environ, WORKERS_ENV, cpus),
            timeout=_positive_int(environ, TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS),
            max_inflight=_positive_int(environ, MAX_INFLIGHT_ENV, DEFAULT_MAX_INFLIGHT),
            concurrency=_positive_int(environ, CONCURRENCY_ENV, DEFAULT_CONCURRENCY),
            http_threads=_positive_int(environ, HTTP_THREADS_ENV, 0),
            model_threads=0,
        )
        given = {name: value for name, value in overrides.items() if value is not None}
        for name, value in given.items():
            if value < 1:
                raise ServerSettingsError(f"--{name.replace('_', '-')} must be a positive integer, not {value}")
        settings = replace(settings, **given)
        if not settings.model_threads:
            settings = replace(settings, model_threads=max(1, cpus // settings.workers))
        if not settings.http_threads:
            settings = replace(settings, http_threads=settings.max_inflight + SPARE_HTTP_THREADS)
        if settings.http_threads <= settings.max_inflight:
            # every thread could then be holding an invocation, and excess requests would queue for a
            # thread without bound instead of being answered 429
            raise ServerSettingsError(
                f"{HTTP_THREADS_ENV} / --http-threads ({settings.http_threads}) must exceed the in-flight limit "
                f"{MAX_INFLIGHT_ENV} / --max-inflight ({settings.max_inflight}): the spare threads answer the 429s"
            )
        return settings

    def describe(self) -> str:
        return (
            f"gunicorn: {self.workers} worker(s) x {self.http_threads} threads; per worker at most "
            f"{self.max_inflight} invocations held ({self.concurrency} running the model with "
            f"{self.model_threads} thread(s)), more are answered 429 ThrottlingException; timeout {self.timeout} s"
        )

    def gunicorn_options(self) -> dict[str, Any]:
        """gunicorn's own settings for these (names as in gunicorn's configuration reference)."""
        return {
            "workers": self.workers,
            "worker_class": "gthread",
            "threads": self.http_threads,
            "worker_connections": WORKER_CONNECTIONS,
            "backlog": self.backlog,
            "timeout": self.timeout,
            "graceful_timeout": self.timeout,
            "keepalive": self.keepalive,
        }


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServerSettingsError(f"{name}={raw!r} is not an integer (expected a positive whole number)") from None
    if value < 1:
        raise ServerSettingsError(f"{name}={raw!r} must be at least 1")
    return value


class GunicornEndpoint(BaseApplication):
    """gunicorn application serving ``EndpointApp(factory())`` in every worker, on an already bound socket."""

    def __init__(
        self,
        factory: EndpointFactory,
        settings: ServerSettings,
        listener: socket.socket,
        *,
        verbose: bool = False,
    ) -> None:
        self._factory = factory
        self._settings = settings
        # gunicorn adopts the descriptor (and closes its copy): this socket object lets it go
        self._fd = listener.detach()
        self._verbose = verbose
        super().__init__()

    def load_config(self) -> None:
        options = {
            **self._settings.gunicorn_options(),
            "bind": [f"fd://{self._fd}"],
            "preload_app": False,  # load in each worker, after the fork
            "proc_name": "imageflow-endpoint",
            "control_socket_disable": True,  # one shared default path would collide between servers
            "loglevel": "info" if self._verbose else "warning",
            "errorlog": "-",
            "accesslog": "-" if self._verbose else None,
            "worker_exit": _close_worker_app,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self) -> EndpointApp:
        from imageflow.endpoint.wsgi import EndpointApp  # in the worker, after the fork

        settings = self._settings
        return EndpointApp(self._factory(), max_inflight=settings.max_inflight, concurrency=settings.concurrency)


def _close_worker_app(arbiter: Any, worker: Any) -> None:
    # flushes this worker's buffered data capture when it stops (SIGTERM, SIGINT, restart)
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "close"):
        app.close()


@dataclass(frozen=True)
class EndpointSummary:
    name: str
    labels: tuple[str, ...]
    capture: str | None  # where data capture goes, or None

    def banner(self, url: str) -> str:
        lines = [f"serving endpoint {self.name!r} ({', '.join(self.labels)}) at {url}"]
        if self.capture is not None:
            lines.append(f"data capture -> {self.capture}")
        return "\n".join(lines)


class PreflightError(RuntimeError):
    """The endpoint cannot be built (missing model, bad label map or capture URI); the message says why."""


def preflight(factory: EndpointFactory) -> EndpointSummary:
    """Build the endpoint once, in a short-lived forked process, before any worker starts.

    A missing model or a bad capture URI is then one clear error from the command rather than a traceback
    in every worker. It runs in a child so that this process, gunicorn's master, never loads onnxruntime:
    its import starts a thread, and a worker forked from a process with such a thread inherits state owned
    by a thread that no longer exists (measured: the worker hangs in its first inference, or aborts at exit).
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_preflight_child, args=(factory, sender), name="imageflow-preflight")
    child.start()
    sender.close()
    try:
        outcome, value = receiver.recv()
    except EOFError:
        outcome, value = "error", f"the model check process died (exit code {child.exitcode})"
    finally:
        receiver.close()
        child.join()
    if outcome != "ok":
        raise PreflightError(value)
    return value


def _preflight_child(factory: EndpointFactory, sender: Any) -> None:
    from imageflow.endpoint.labels import LabelMapError
    from imageflow.endpoint.model import ModelLoadError

    try:
        endpoint = factory()
        try:
            capture = endpoint.capture.describe() if endpoint.capture is not None else None
            summary = EndpointSummary(endpoint.endpoint_name, tuple(endpoint.classifier.labels), capture)
        finally:
            endpoint.close()
    except (ModelLoadError, LabelMapError, ValueError, OSError, RuntimeError) as exc:
        sender.send(("error", str(exc)))
    except Exception as exc:
        logger.debug("preflight failed:\n%s", traceback.format_exc())
        sender.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        sender.send(("ok", summary))
    finally:
        sender.close()


def run(factory: EndpointFactory, settings: ServerSettings, listener: socket.socket, *, verbose: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; gunicorn's master then exits the process (``SystemExit``).

    Does not return normally, and nothing may run after it in a worker: each forked worker leaves
    through ``SystemExit`` too, so callers must not catch it.
    """
    GunicornEndpoint(factory, settings, listener, verbose=verbose).run()
