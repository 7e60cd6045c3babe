"""Start, check and stop the local services as background processes.

Two services, both on loopback:

* ``aws``: the local AWS API (``python -m imageflow.localcloud.aws_server``: moto with our fixes);
* ``endpoint``: the local SageMaker endpoint (``imageflow serve``), writing data capture to the local S3.

Their pids and ports are kept in ``<state dir>/localcloud.json`` (``.local/`` at the repository root by
default), logs in ``<state dir>/logs/``, and the environment to use them in ``<state dir>/local.env``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from imageflow.localcloud import envfile, settings
from imageflow.localcloud.seed import seed

STATE_FILE = "localcloud.json"
ENV_FILE = "local.env"
START_TIMEOUT_SECONDS = 120.0  # generous: moto and onnxruntime import slowly on a busy 2-core machine
STOP_TIMEOUT_SECONDS = 20.0
_DEFAULT_PORTS = settings.Ports()


class LocalCloudError(Exception):
    """A problem the user can act on; the message says what to do."""


class AlreadyRunningError(LocalCloudError):
    pass


class NotRunningError(LocalCloudError):
    pass


class PortInUseError(LocalCloudError):
    pass


class StartupError(LocalCloudError):
    pass


@dataclass(frozen=True)
class Service:
    """One running background process, as recorded in the state file."""

    name: str
    pid: int
    port: int
    url: str
    log: str
    marker: str  # a string in its command line: guards against a recycled pid


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    running: bool
    healthy: bool


class LocalCloud:
    """The local services of one state directory."""

    def __init__(self, state_dir: Path = settings.DEFAULT_STATE_DIR, python: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.python = python or sys.executable

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def env_file(self) -> Path:
        return self.state_dir / ENV_FILE

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    # -- queries -------------------------------------------------------------------------------------

    def services(self) -> list[Service]:
        """The services recorded in the state file (running or not)."""
        if not self.state_file.exists():
            return []
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        return [Service(**item) for item in data.get("services", [])]

    def status(self) -> list[ServiceStatus]:
        result = []
        for service in self.services():
            running = _is_running(service)
            result.append(ServiceStatus(service, running, running and _healthy(service)))
        return result

    def environment(self) -> dict[str, str]:
        """The variables to use the running services (raises NotRunningError when they are not up)."""
        ports = {s.name: s.port for s in self.services() if _is_running(s)}
        if set(ports) != {"aws", "endpoint"}:
            raise NotRunningError("the local services are not running: start them with `imageflow local start`")
        return envfile.local_environment(ports["aws"], ports["endpoint"])

    # -- start / stop --------------------------------------------------------------------------------

    def start(
        self,
        ports: settings.Ports = _DEFAULT_PORTS,
        *,
        seed_samples: bool = True,
        timeout: float = START_TIMEOUT_SECONDS,
        progress: Callable[[str], None] = lambda message: None,
    ) -> dict[str, str]:
        """Start both services, seed the buckets, write the env file; return the environment."""
        running = [s for s in self.services() if _is_running(s)]
        if running:
            where = ", ".join(f"{s.name} (pid {s.pid}, {s.url})" for s in running)
            raise AlreadyRunningError(
                f"the local services are already running: {where}. "
                "Use them (source .local/local.env) or stop them first with `imageflow local stop`."
            )
        self._forget()  # a stale state file from a crash or reboot
        if ports.aws == ports.endpoint:
            raise PortInUseError(f"the AWS API and the endpoint need different ports (both are {ports.aws})")
        for name, port, option in (
            ("AWS API", ports.aws, "--aws-port"),
            ("endpoint", ports.endpoint, "--endpoint-port"),
        ):
            if not port_is_free(port):
                raise PortInUseError(
                    f"port {port} on {settings.HOST} is already in use by another program, so the local {name} "
                    f"cannot start there. Stop that program or choose another port with {option}."
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = envfile.local_environment(ports.aws, ports.endpoint)
        started: list[Service] = []
        try:
            progress(f"starting the local AWS API on {settings.aws_url(ports.aws)}")
            aws, aws_process = self._spawn(
                "aws",
                ports.aws,
                settings.aws_url(ports.aws),
                [
                    "-m", "imageflow.localcloud.aws_server",
                    "--host", settings.HOST,
                    "--port", str(ports.aws),
                    "--work-dir", str(self.state_dir / "lambda"),
                    "--lambda-env", f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={settings.endpoint_url(ports.endpoint)}",
                ],
                marker="imageflow.localcloud.aws_server",
                env=env,
            )  # fmt: skip
            started.append(aws)
            self._record(started)
            _wait_healthy(aws, aws_process, timeout)
            if seed_samples:
                keys = seed(ports.aws)
                progress(f"seeded s3://{settings.IMAGES_BUCKET} with {len(keys)} sample images")
            progress(f"starting the local SageMaker endpoint {settings.ENDPOINT_NAME!r} on "
                     f"{settings.endpoint_url(ports.endpoint)}")  # fmt: skip
            endpoint, endpoint_process = self._spawn(
                "endpoint",
                ports.endpoint,
                settings.endpoint_url(ports.endpoint),
                [
                    "-m", "imageflow.cli", "serve",
                    "--host", settings.HOST,
                    "--port", str(ports.endpoint),
                    "--endpoint-name", settings.ENDPOINT_NAME,
                    "--capture-uri", f"s3://{settings.CAPTURE_BUCKET}/{settings.CAPTURE_PREFIX}",
                ],
                marker="serve",
                env=env,
            )  # fmt: skip
            started.append(endpoint)
            self._record(started)
            _wait_healthy(endpoint, endpoint_process, timeout)
        except BaseException:
            for service in reversed(started):
                _terminate(service, STOP_TIMEOUT_SECONDS, check_marker=False)
            self._forget()
            raise
        envfile.write(self.env_file, env)
        return env

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> list[Service]:
        """Stop every recorded service that still runs; return those stopped."""
        services = self.services()
        running = [s for s in services if _is_running(s)]
        self._forget()
        if not running:
            raise NotRunningError("the local services are not running (nothing to stop)")
        for service in reversed(running):
            _terminate(service, timeout)
        return running

    # -- state ---------------------------------------------------------------------------------------

    def _spawn(self, name: str, port: int, url: str, args: list[str], marker: str, env: Mapping[str, str]) -> Service:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            # A new session: the service outlives this command and is stopped as a group (with the
            # Lambda subprocesses it runs).
            process = subprocess.Popen(
                [self.python, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=str(settings.REPO_ROOT),
                start_new_session=True,
            )
        return Service(name, process.pid, port, url, str(log), marker), process

    def _record(self, services: list[Service]) -> None:
        payload = {"services": [asdict(s) for s in services]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        tmp.replace(self.state_file)

    def _forget(self) -> None:
        for path in (self.state_file, self.env_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def port_is_free(port: int, host: str = settings.HOST) -> bool:
    """True when nothing listens on ``host:port`` (binding it would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = settings.HOST) -> int:
    """A port nothing listens on right now (for tests and parallel runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _is_running(service: Service, check_marker: bool = True) -> bool:
    with contextlib.suppress(ChildProcessError):
        # Reap it if it is our own exited child (a zombie still answers kill(pid, 0)).
        if os.waitpid(service.pid, os.WNOHANG)[0] == service.pid:
            return False
    try:
        os.kill(service.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{service.pid}/cmdline")
    if check_marker and cmdline.exists():  # Linux: make sure the pid was not recycled by an unrelated program
        return service.marker.encode() in cmdline.read_bytes()
    return True


def _healthy(service: Service) -> bool:
    path = "/ping" if service.name == "endpoint" else "/moto-api/"
    try:
        with urllib.request.urlopen(service.url + path, timeout=5) as response:
            return 200 <= response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _wait_healthy(service: Service, process: subprocess.Popen[bytes], timeout: float) -> None:
    # Exit is detected through the Popen handle: right after the fork, /proc/<pid>/cmdline still shows
    # this command, so the marker check of _is_running cannot be trusted yet.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"the local {service.name} service exited during start-up:\n{_tail(service.log)}")
        if _healthy(service):
            return
        time.sleep(0.25)
    raise StartupError(
        f"the local {service.name} service did not answer on {service.url} within {timeout:.0f} s:\n"
        f"{_tail(service.log)}"
    )


def _terminate(service: Service, timeout: float, check_marker: bool = True) -> None:
    if not _is_running(service, check_marker):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_running(service, check_marker):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(service.pid, signal.SIGKILL)


def _tail(log: str, lines: int = 20) -> str:
    try:
        text = Path(log).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) + f"\n(full log: {log})"
