"""`sls invoke local` runs the real handlers against the local services, one by one and piped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from localcloud_helpers import SLS_TIMEOUT_SECONDS, run_sls

# One local cloud serves these tests: keep them on one pytest-xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud")]

# Handler logs and metrics share stdout with the result under `invoke local`: silence them for a pure pipe.
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


def _result(stdout: str) -> dict:
    """The result document osls prints last (after any log lines)."""
    start = stdout.index("\n{\n") + 1 if not stdout.startswith("{\n") else 0
    return json.loads(stdout[start:])


def test_serialize(cloud_env: dict[str, str], service_dir: Path) -> None:
    done = run_sls(["invoke", "local", "-f", "serialize", "--path", "events/serialize.json"], cloud_env, service_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    body = _result(done.stdout)["body"]
    assert body["s3_key"] == "motorcycle_left.png"
    assert "image_ref" in body or "image_data" in body


def test_classify(cloud_env: dict[str, str], service_dir: Path) -> None:
    done = run_sls(["invoke", "local", "-f", "classify", "--path", "events/classify.json"], cloud_env, service_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    body = _result(done.stdout)["body"]
    assert body["label"] == "motorcycle"
    assert body["confidence"] > 0.73


def test_threshold_passes_and_fails(cloud_env: dict[str, str], service_dir: Path) -> None:
    done = run_sls(["invoke", "local", "-f", "threshold", "--path", "events/threshold.json"], cloud_env, service_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _result(done.stdout)["body"]["label"] == "motorcycle"

    low = run_sls(
        ["invoke", "local", "-f", "threshold", "--path", "events/threshold-low-confidence.json"], cloud_env, service_dir
    )
    assert low.returncode != 0
    assert "ThresholdConfidenceNotMetError: THRESHOLD_CONFIDENCE_NOT_MET" in low.stdout + low.stderr


def _pipeline(event: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = (
        f"set -o pipefail; sls invoke local -f serialize --path {event}"
        " | sls invoke local -f classify | sls invoke local -f threshold"
    )
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env, **QUIET},
        capture_output=True,
        text=True,
        timeout=SLS_TIMEOUT_SECONDS,
        check=False,
    )


def test_piped_workflow_confident(cloud_env: dict[str, str], service_dir: Path) -> None:
    done = _pipeline("events/serialize.json", cloud_env, service_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)["body"]
    assert (body["s3_key"], body["label"]) == ("motorcycle_left.png", "motorcycle")
    assert body["inferences"][1] > 0.73


def test_piped_workflow_low_confidence(cloud_env: dict[str, str], service_dir: Path) -> None:
    done = _pipeline("events/serialize-low-confidence.json", cloud_env, service_dir)
    assert done.returncode != 0
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in done.stdout + done.stderr
    assert "grace_hopper.jpg" in done.stdout + done.stderr
