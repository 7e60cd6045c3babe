"""The local model registry: built-in versions, approval status, automatic approval without regression."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from imageflow.cli import main
from imageflow.registry.approval import register_with_approval, regressions
from imageflow.registry.store import APPROVED, PENDING, REJECTED, Registry, RegistryError
from imageflow.training.data import load_dataset
from imageflow.training.metrics import Scores


def _scores(accuracy: float, pass_share: float, among: float, ece: float) -> Scores:
    return Scores(
        images=200, accuracy=accuracy, pass_share=pass_share, accuracy_among_passed=among, ece=ece, threshold=0.73
    )


def test_regressions_are_named_and_small_noise_is_tolerated() -> None:
    approved = _scores(0.94, 0.90, 0.96, 0.03)
    assert regressions(_scores(0.935, 0.895, 0.955, 0.039), approved) == []
    found = regressions(_scores(0.90, 0.80, 0.96, 0.10), approved)
    assert found == [
        "accuracy 0.900 < approved 0.940",
        "pass_share 0.800 < approved 0.900",
        "ece 0.100 > approved 0.030",
    ]
    # the zero-shot head passes nothing on CIFAR, or one image: "accuracy among passed" has nothing to regress from
    assert regressions(_scores(0.94, 0.90, 0.96, 0.03), _scores(0.75, 0.0, math.nan, 0.6)) == []
    assert regressions(_scores(0.94, 0.90, 0.96, 0.03), _scores(0.75, 0.005, 1.0, 0.6)) == []
    assert regressions(_scores(0.94, 0.90, 0.90, 0.03), _scores(0.94, 0.90, 0.96, 0.03)) == [
        "accuracy_among_passed 0.900 < approved 0.960"
    ]


def test_a_new_registry_holds_both_built_ins_with_the_trained_default_served(tmp_path: Path) -> None:
    registry = Registry.open(tmp_path / "reg")
    assert [p.version for p in registry.versions()] == ["zero-shot", "cifar100-default"]
    assert all(p.status == APPROVED for p in registry.versions())
    assert registry.approved().version == "cifar100-default"
    assert (registry.served_directory() / "model.onnx").is_file()


def test_approving_zero_shot_serves_it_again_and_rejecting_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGEFLOW_REGISTRY", str(tmp_path / "reg"))
    assert main(["models", "approve", "zero-shot"]) == 0
    assert "served version: zero-shot" in capsys.readouterr().out
    assert Registry.open().approved().version == "zero-shot"
    assert main(["models", "reject", "cifar100-default", "--reason", "testing"]) == 0
    package = Registry.open().get("cifar100-default")
    assert (package.status, package.record["ApprovalDescription"]) == (REJECTED, "testing")
    assert main(["models", "list"]) == 0
    assert "zero-shot" in capsys.readouterr().out
    assert main(["models", "show", "nope"]) == 2
    assert "no version 'nope'" in capsys.readouterr().err


def test_a_version_that_regresses_stays_pending_with_the_reason(
    tmp_path: Path, small_version: Path, small_data: Path
) -> None:
    registry = Registry.open(tmp_path / "reg")  # serves cifar100-default, trained on 800 images
    validation = load_dataset(small_data, ("bicycle", "motorcycle"), seed=3).validation
    package, found = register_with_approval(registry, small_version, validation)
    assert package.version == "1"
    if found:  # 38 training images may or may not beat the default on these 10: the record must say which
        assert package.status == PENDING
        assert package.record["ApprovalDescription"].startswith("pending: regresses against approved version")
        assert registry.approved().version == "cifar100-default"
    else:
        assert package.status == APPROVED and registry.approved().version == "1"
    assert package.record["ModelMetrics"]["approved_version"] == "cifar100-default"
    assert (package.directory / "model.onnx").is_file()


def test_a_version_worse_than_the_approved_one_is_not_approved(tmp_path: Path, small_version: Path) -> None:
    registry = Registry.open(tmp_path / "reg")
    bundled = Path(__file__).resolve().parents[2] / "datasets" / "cifar100-bicycle-motorcycle"
    validation = load_dataset(bundled, ("bicycle", "motorcycle"), seed=0).validation[:40]
    import numpy as np

    always_wrong = np.array([[0.1, 0.9] if e.label == 0 else [0.9, 0.1] for e in validation])
    package, found = register_with_approval(registry, small_version, validation, candidate_probabilities=always_wrong)
    assert package.status == PENDING and found and found[0].startswith("accuracy 0.000 < approved")
    assert registry.approved().version == "cifar100-default"


def test_unknown_versions_and_statuses_are_refused(tmp_path: Path) -> None:
    registry = Registry.open(tmp_path / "reg")
    with pytest.raises(RegistryError, match="no version '7'"):
        registry.set_status("7", APPROVED, "x")
    with pytest.raises(RegistryError, match="unknown approval status"):
        registry.register(tmp_path, status="Maybe", reason="x")
