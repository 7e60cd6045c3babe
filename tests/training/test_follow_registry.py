"""A serving process follows the registry: a newly approved version is served without a restart, and a
version that does not load leaves the previous one serving."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imageflow.endpoint.model import MODEL_FILE
from imageflow.registry.follow import ApprovedVersionClassifier
from imageflow.registry.store import APPROVED, SHIPPED_DEFAULT, ZERO_SHOT, Registry
from tests.helpers import SAMPLES


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setenv("IMAGEFLOW_REGISTRY", str(tmp_path / "registry"))
    return Registry.open()


def test_a_newly_approved_version_is_served_without_a_restart(registry: Registry) -> None:
    image = next(SAMPLES.glob("*.png")).read_bytes()
    registry.set_status(ZERO_SHOT, APPROVED, "test: serve zero-shot")
    served = ApprovedVersionClassifier(interval=3600)
    before = served.classify(image)
    assert served.version == ZERO_SHOT
    registry.set_status(SHIPPED_DEFAULT, APPROVED, "test: the trained version")
    assert served.follow(force=True) is True
    assert served.version == SHIPPED_DEFAULT and served.classify(image) != before


def test_an_approved_version_that_does_not_load_leaves_the_previous_one_serving(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    served = ApprovedVersionClassifier(interval=3600)
    assert served.version == SHIPPED_DEFAULT
    broken = tmp_path / "broken"
    shutil.copytree(registry.get(SHIPPED_DEFAULT).directory, broken, ignore=shutil.ignore_patterns("package.json"))
    (broken / MODEL_FILE).write_bytes(b"not an onnx model")
    registry.register(broken, status=APPROVED, reason="test: a version whose model does not load")
    assert served.follow(force=True) is False
    assert served.version == SHIPPED_DEFAULT and len(served.classify(next(SAMPLES.glob("*.png")).read_bytes())) == 2
    assert "not served (keeping cifar100-default)" in caplog.text
