"""Start a serving command (``imageflow serve``, ``imageflow-container serve``) as a real process for a test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # onnxruntime imports slowly on a busy 2-core machine


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def children(self) -> list[int]:
        """Pids of the processes this one forked (gunicorn's workers)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if int(fields[1]) == self.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (what SageMaker and `imageflow local stop` send), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return "".join(self.output)


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


def imageflow_serve(*options: str) -> list[str]:
    return python_command("-m", "imageflow.cli", "serve", *options)


@contextmanager
def serving(command: Sequence[str], env: Mapping[str, str] | None = None) -> Iterator[ServeProcess]:
    """Run ``command``, wait until the URL it prints answers ``/ping``; SIGTERM it at the end."""
    process = subprocess.Popen(
        list(command),
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = ServeProcess(process, url="")
    try:
        served.url = _wait_for_url(served)
        threading.Thread(target=_drain, args=(served,), daemon=True).start()
        _wait_healthy(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_url(served: ServeProcess) -> str:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        served.output.append(line)
        match = re.search(r" at (http://\S+)", line)
        if match:
            return match.group(1).replace("0.0.0.0", "127.0.0.1")
    raise AssertionError(f"the server exited ({served.process.wait()}) before printing its URL:\n{served.log()}")


def _drain(served: ServeProcess) -> None:
    assert served.process.stdout is not None
    for line in served.process.stdout:
        served.output.append(line)


def _wait_healthy(served: ServeProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"the server exited during start-up:\n{served.log()}"
        try:
            with urllib.request.urlopen(served.url + "/ping", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{served.url}/ping did not answer within {START_TIMEOUT:.0f} s:\n{served.log()}")
