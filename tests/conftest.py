"""Fixtures shared by every layer of the test pyramid."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import make_image


@pytest.fixture
def image_factory() -> Callable[..., bytes]:
    return make_image


def pytest_configure(config: pytest.Config) -> None:
    """One model registry per test process (each xdist worker), never the repository's .local/registry.

    Set in the environment at start-up, so that servers the tests start as processes (the local cloud's
    `imageflow serve`) use it too.
    """
    folder = tempfile.mkdtemp(prefix="imageflow-test-registry-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["IMAGEFLOW_REGISTRY"] = str(Path(folder) / "registry")


@pytest.fixture(scope="session")
def shared_registry_root() -> Path:
    return Path(os.environ["IMAGEFLOW_REGISTRY"])


@pytest.fixture(autouse=True)
def _test_model_registry(monkeypatch: pytest.MonkeyPatch, shared_registry_root: Path) -> None:
    monkeypatch.setenv("IMAGEFLOW_REGISTRY", str(shared_registry_root))


@pytest.fixture(autouse=True)
def _test_review_queue(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test gets its own review queue folder: `imageflow run` writes one, and tests must not share it."""
    folder = tmp_path_factory.mktemp("review")
    monkeypatch.setenv("IMAGEFLOW_REVIEW", str(folder))
    monkeypatch.setenv("IMAGEFLOW_RETRAIN_TRIGGER", "off")  # on only where a test is about it
    return folder


@pytest.fixture(autouse=True)
def _fresh_handler_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a new Lambda container: settings and clients are re-read from its environment."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    _clear()
    yield
    _clear()


def _clear() -> None:
    from imageflow.runner.functions import reset_handler_containers

    reset_handler_containers()
