"""A Docker-free Lambda runtime for Python functions: run the deployed zip in a fresh subprocess.

What it reproduces from AWS Lambda's Python runtime, because the state machine and the Serverless CLI
depend on it:

* the code is the deployed zip (the task root) plus its layers' ``python/`` directories, plus the boto3 the
  runtime itself provides; nothing else from this machine's environment is importable;
* the environment is the function's ``Environment`` on top of the runtime's variables (``AWS_REGION``,
  ``AWS_LAMBDA_FUNCTION_NAME``...), plus the local service endpoints this runtime is configured with;
* an uncaught exception comes back as ``FunctionError: Unhandled`` with a payload naming ``errorType``
  (the exception's class name: what Retry/Catch match) and ``errorMessage``; a timeout as
  ``Sandbox.Timedout``.

Each invocation is a cold start (a new interpreter): slower than Lambda's warm containers, but no state
leaks between invocations.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imageflow.localcloud import lambda_bootstrap
from imageflow.localcloud.lambda_bootstrap import error_document

BOOTSTRAP = Path(lambda_bootstrap.__file__)
# What the Lambda Python runtime ships besides the standard library (module names, not distributions).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
MAX_LOG_TAIL_BYTES = 4096  # the size of the log tail Invoke returns with LogType=Tail


@dataclass(frozen=True)
class CodeArchive:
    """A deployment package or layer: its zip bytes and their SHA-256 (used as the unpack cache key)."""

    sha256: str
    zip_bytes: bytes = field(repr=False)


@dataclass(frozen=True)
class FunctionSpec:
    """What the runtime needs to know about one deployed function."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout_seconds: float
    memory_mb: int
    region: str
    environment: Mapping[str, str]
    code: CodeArchive
    layers: Sequence[CodeArchive] = ()


@dataclass(frozen=True)
class InvocationResult:
    """What Invoke returns: the payload, ``function_error`` (``"Unhandled"`` or None) and the logs."""

    payload: bytes
    function_error: str | None
    logs: str
    request_id: str


class LocalLambdaRuntime:
    """Runs functions from their deployed code. Thread-safe: concurrent invocations use separate processes."""

    def __init__(self, work_dir: Path, extra_env: Mapping[str, str] | None = None, python: str | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.extra_env = dict(extra_env or {})
        self.python = python or sys.executable
        self._unpack_lock = threading.Lock()

    def invoke(self, spec: FunctionSpec, event: bytes) -> InvocationResult:
        """Run ``spec``'s handler on ``event`` (JSON bytes) and return what Lambda's Invoke would."""
        request_id = str(uuid.uuid4())
        if not spec.runtime.startswith("python"):
            message = f"Runtime {spec.runtime!r} is not supported by the local Lambda runtime (Python only)"
            return _error_result(request_id, "Runtime.InvalidRuntime", message, "")
        task_root = self._unpack(spec.code, "functions")
        layer_roots = [self._unpack(layer, "layers") for layer in spec.layers]
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000 + spec.timeout_seconds * 1000)
        invocation = json.dumps({"requestId": request_id, "functionArn": spec.arn, "deadlineMs": deadline_ms})
        with tempfile.TemporaryDirectory(prefix="invoke-", dir=self.work_dir) as tmp:
            result_path = Path(tmp) / "result.json"
            command = [self.python, "-S", str(BOOTSTRAP), spec.handler, invocation, str(result_path)]
            try:
                completed = subprocess.run(
                    command,
                    input=event or b"{}",
                    capture_output=True,
                    cwd=task_root,
                    env=self._environment(spec, task_root, layer_roots),
                    timeout=spec.timeout_seconds,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                logs = _decode(exc.stdout) + _decode(exc.stderr)
                message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout_seconds:.2f} seconds"
                return _error_result(request_id, "Sandbox.Timedout", message, _frame(request_id, logs, started))
            logs = _frame(request_id, _decode(completed.stdout) + _decode(completed.stderr), started)
            if not result_path.exists():
                message = (
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status {completed.returncode}"
                )
                return _error_result(request_id, "Runtime.ExitError", message, logs)
            outcome = json.loads(result_path.read_text(encoding="utf-8"))
        if "error" in outcome:
            return InvocationResult(json.dumps(outcome["error"]).encode(), "Unhandled", logs, request_id)
        return InvocationResult(outcome["ok"].encode(), None, logs, request_id)

    def _environment(self, spec: FunctionSpec, task_root: Path, layer_roots: Sequence[Path]) -> dict[str, str]:
        # Lambda's search path: task root, then each layer's python/ directories, then the runtime's boto3.
        python_path = [str(task_root)]
        for root in layer_roots:
            python_path += [str(root / "python"), str(root / "python" / "lib" / _python_dir() / "site-packages")]
        python_path.append(str(self._runtime_packages()))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
        }
        env.update(self.extra_env)
        env.update(spec.environment)
        env["PYTHONPATH"] = os.pathsep.join(python_path)
        return env

    def _unpack(self, archive: CodeArchive, kind: str) -> Path:
        """Unzip once per distinct archive; concurrent first invocations must not see a half-written tree."""
        target = self.work_dir / kind / archive.sha256.replace("/", "_")
        with self._unpack_lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=self.work_dir))
                with zipfile.ZipFile(io.BytesIO(archive.zip_bytes)) as zipped:
                    zipped.extractall(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                staging.rename(target)
        return target

    def _runtime_packages(self) -> Path:
        """A directory holding only the packages the Lambda runtime provides (links to this environment's)."""
        target = self.work_dir / "runtime" / _python_dir()
        with self._unpack_lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(prefix="runtime-", dir=self.work_dir))
                for module in RUNTIME_MODULES:
                    spec = importlib.util.find_spec(module)
                    if spec is None or spec.origin is None:
                        continue
                    origin = Path(spec.origin)
                    source = origin.parent if origin.name == "__init__.py" else origin
                    (staging / source.name).symlink_to(source, target_is_directory=source.is_dir())
                target.parent.mkdir(parents=True, exist_ok=True)
                staging.rename(target)
        return target

    def clear(self) -> None:
        """Forget unpacked code (the next invocation unpacks again)."""
        with self._unpack_lock:
            for kind in ("functions", "layers"):
                shutil.rmtree(self.work_dir / kind, ignore_errors=True)


def _python_dir() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _frame(request_id: str, logs: str, started: float) -> str:
    # The START/END/REPORT lines Lambda writes around every invocation's own output.
    duration_ms = (time.monotonic() - started) * 1000
    return (
        f"START RequestId: {request_id} Version: $LATEST\n{logs}"
        f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\n"
    )


def _error_result(request_id: str, error_type: str, message: str, logs: str) -> InvocationResult:
    payload = error_document(error_type, message, request_id)
    return InvocationResult(json.dumps(payload).encode(), "Unhandled", logs, request_id)


def log_tail(logs: str) -> str:
    """The last 4 KB of the logs, as Invoke returns them (base64-encode before sending)."""
    return logs.encode("utf-8")[-MAX_LOG_TAIL_BYTES:].decode("utf-8", "ignore")
