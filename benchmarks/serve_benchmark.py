"""`imageflow serve` under many concurrent boto3 clients: throughput, latency, throttling, dropped connections.

    .venv/bin/python benchmarks/serve_benchmark.py [--clients 8 32 128] [--requests 10] [--baseline GIT_REF]
                                                   [--retries N] [-- <extra imageflow serve options>]

For each level, N threads each own a boto3 ``sagemaker-runtime`` client (its own session and one pooled
connection, as N separate callers would) and send ``--requests`` InvokeEndpoint calls with the sample
photos, all starting together. The server is ``imageflow serve --port 0`` started as a subprocess (fresh for
each level). With ``--baseline REF`` the same levels also run against the ``imageflow`` package as it was at
that git commit (extracted to a temporary directory), in the same run, so both see the same machine.

Clients do not retry (``max_attempts=1``) unless ``--retries N``, so the figures show what the server does:
every call ends answered (200), throttled (HTTP 429 ThrottlingException), dropped (no HTTP answer: connection
closed or reset, timeout) or another error. With retries (boto3's standard mode, with its back-off), the SDK's
own retries are counted. Throughput counts answered calls per second of wall time; p50/p99 are over answered
calls, as the client saw them. CPU seconds are the server's processes' and this process's (the clients share
the machine with the server). Exits 1 when the current server drops a connection.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
ENDPOINT = "image-classifier-local"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
START_TIMEOUT = 120.0


@dataclass
class Level:
    server: str
    clients: int
    requests: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, answered calls
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    server_cpu: float = 0.0  # CPU seconds of the server's processes during the level
    client_cpu: float = 0.0  # CPU seconds of this process (the clients) during the level

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
        answered = self.outcomes["answered"]
        return (
            f"| {self.server} | {self.clients} | {self.clients * self.requests} | {answered} "
            f"| {answered / self.wall:.1f} | {p50:.0f} | {p99:.0f} | {self.outcomes['throttled']} "
            f"| {self.outcomes['dropped']} | {self.outcomes['error']} | {self.retries} | {self.wall:.1f} "
            f"| {self.server_cpu:.1f} | {self.client_cpu:.1f} |"
        )


HEADER = (
    "| server | clients | calls | answered | answered/s | p50 ms | p99 ms | throttled (429) | dropped "
    "| other errors | SDK retries | wall s | server CPU s | client CPU s |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def sample_images() -> list[tuple[bytes, str]]:
    types = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in types)
    return [(p.read_bytes(), types[p.suffix.lower()]) for p in files]


class Server:
    """`imageflow serve --port 0` as a subprocess, from this checkout or from an extracted package."""

    def __init__(self, extra_args: list[str], pythonpath: Path | None = None) -> None:
        env = dict(os.environ)
        cwd = REPO
        if pythonpath is not None:
            env["PYTHONPATH"] = str(pythonpath)
            cwd = pythonpath
        command = [sys.executable, "-m", "imageflow.cli", "serve", "--port", "0", *extra_args]
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.url = self._wait_for_url()
        self._log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_healthy()

    def _wait_for_url(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = re.search(r"at (http://\S+)", line)
            if match:
                return match.group(1)
        raise RuntimeError(f"imageflow serve exited ({self.process.wait()}) before it printed its URL")

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # keep the pipe flowing; the log is shown on failure
            self._log.append(line)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.url}/ping did not answer within {START_TIMEOUT:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and the processes it forked (gunicorn's workers)."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            if self.process.pid in (int(stat.parent.name), int(fields[1])):
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def make_client(url: str, retries: int) -> Any:
    config = Config(
        retries={"total_max_attempts": retries + 1, "mode": "standard"},
        max_pool_connections=1,
        connect_timeout=10,
        read_timeout=60,
    )
    session = boto3.session.Session()
    return session.client("sagemaker-runtime", endpoint_url=url, config=config, **CREDENTIALS)


def classify_outcome(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return "throttled" if code == "ThrottlingException" else "error"
    if isinstance(exc, ConnectionError | HTTPClientError | ReadTimeoutError):
        return "dropped"
    return "error"


def run_level(server: Server, name: str, clients: int, requests: int, retries: int) -> Level:
    images = sample_images()
    level = Level(name, clients, requests)
    sdk_clients = [make_client(server.url, retries) for _ in range(clients)]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    examples: dict[str, str] = {}

    def call(index: int) -> None:
        client = sdk_clients[index]
        barrier.wait()
        for n in range(requests):
            body, content_type = images[(index + n) % len(images)]
            started = time.perf_counter()
            try:
                response = client.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType=content_type)
                response["Body"].read()
                outcome, retried = "answered", response["ResponseMetadata"].get("RetryAttempts", 0)
            except Exception as exc:
                outcome = classify_outcome(exc)
                failed = getattr(exc, "response", None) or {}
                retried = failed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                examples.setdefault(outcome, f"{type(exc).__name__}: {exc}")
            elapsed = time.perf_counter() - started
            with lock:
                level.outcomes[outcome] += 1
                level.retries += retried
                if outcome == "answered":
                    level.latencies.append(elapsed)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, server_cpu, client_cpu = time.perf_counter(), server.cpu_seconds(), _own_cpu_seconds()
    for thread in threads:
        thread.join()
    level.wall = time.perf_counter() - started
    level.server_cpu = server.cpu_seconds() - server_cpu
    level.client_cpu = _own_cpu_seconds() - client_cpu
    for outcome, example in examples.items():
        if outcome in ("dropped", "error"):
            print(f"  {name}, {clients} clients, first {outcome} call: {example}", file=sys.stderr)
    return level


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def extract_package(ref: str, into: Path) -> Path:
    """The ``imageflow`` package at ``ref``, with this checkout's models/ beside it."""
    archive = subprocess.run(["git", "archive", ref, "imageflow"], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "models").symlink_to(REPO / "models")
    (into / "samples").symlink_to(REPO / "samples")
    return into


def warm_up(url: str) -> None:
    client = make_client(url, 0)
    for body, content_type in sample_images()[:4]:
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType=content_type)["Body"].read()


def measure(name: str, clients: int, extra: list[str], pythonpath: Path | None, args: argparse.Namespace) -> Level:
    """One level against a freshly started server."""
    server = Server(extra, pythonpath)
    try:
        warm_up(server.url)
        return run_level(server, name, clients, args.requests, args.retries)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--requests", type=int, default=10, help="calls per client (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=0, help="SDK retries per call (default: none)")
    parser.add_argument("--baseline", metavar="GIT_REF", help="also measure `imageflow serve` as it was at this ref")
    parser.add_argument("serve_args", nargs="*", help="extra `imageflow serve` options for the current server")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs; {args.requests} calls per client; SDK retries: {args.retries}\n")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        servers: list[tuple[str, list[str], Path | None]] = [("current", args.serve_args, None)]
        if args.baseline:
            servers.append((f"baseline {args.baseline}", [], extract_package(args.baseline, Path(tmp))))
        levels = []
        for clients in args.clients:  # servers alternate level by level, so both see the same machine
            for name, extra, pythonpath in servers:
                levels.append(measure(name, clients, extra, pythonpath, args))
                print(levels[-1].row(), flush=True)
    if args.baseline:
        print("\nBy server:\n\n" + HEADER)
        for level in sorted(levels, key=lambda level: level.server != "current"):
            print(level.row())
    dropped = sum(level.outcomes["dropped"] for level in levels if level.server == "current")
    if dropped:
        print(f"\nFAIL: the current server dropped {dropped} connection(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
