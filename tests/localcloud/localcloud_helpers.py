"""Helpers for the local cloud tests (a unique module name: test directories share sys.path)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

SLS_TIMEOUT_SECONDS = 600  # a cold package builds the layer; a noisy 2-core machine can be slow


def run_sls(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real osls CLI; output is kept for the assertion messages."""
    return subprocess.run(
        ["sls", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SLS_TIMEOUT_SECONDS,
        check=False,
    )


def client(service: str, env: dict[str, str], config: Config | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


def start_aws_server(port: int, work_dir: Path, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Our AWS API alone (no endpoint), for the moto fix tests."""
    process = subprocess.Popen(
        [sys.executable, "-m", "imageflow.localcloud.aws_server", "--port", str(port), "--work-dir", str(work_dir),
         *(extra or [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aws_server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=5):
                return process
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError("aws_server did not answer within 120 s")
