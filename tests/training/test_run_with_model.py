"""`imageflow run` and `imageflow serve` take any version with --model DIR, else the approved one."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageflow.cli import build_parser, main
from imageflow.paths import REPO_ROOT, SAMPLES_DIR
from imageflow.runner.results import read_results

pytestmark = pytest.mark.slow


def test_run_with_a_version_directory(small_version: Path, tmp_path: Path) -> None:
    photos = [SAMPLES_DIR / "motorcycle_left.png", SAMPLES_DIR / "chelsea.png", REPO_ROOT / "datasets" /
              "open-set-photos" / "giraffe.jpg"]  # fmt: skip
    results = tmp_path / "results.jsonl"
    code = main(["run", *map(str, photos), "--model", str(small_version), "--out", str(tmp_path), "-q",
                 "--results", str(results)])  # fmt: skip
    assert code == 0
    outcomes = {Path(o.source).name: o for o in read_results(results)}
    assert (outcomes["motorcycle_left.png"].outcome, outcomes["motorcycle_left.png"].label) == ("passed", "motorcycle")
    assert outcomes["chelsea.png"].outcome == "low_confidence"
    assert outcomes["giraffe.jpg"].outcome == "low_confidence"


def test_run_without_model_uses_the_approved_version_and_a_bad_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cifar = REPO_ROOT / "datasets" / "cifar100-bicycle-motorcycle" / "train"
    images = [cifar / "bicycle_s_000017.png", cifar / "bicycle_s_000021.png"]
    assert main(["run", *map(str, images), "--out", str(tmp_path / "a"), "-q"]) == 0
    outcomes = read_results(tmp_path / "a" / "results.jsonl")
    assert [o.label for o in outcomes] == ["bicycle", "bicycle"]  # the shipped trained default, not zero-shot
    assert all(o.outcome == "passed" for o in outcomes)
    capsys.readouterr()
    assert main(["run", str(images[0]), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]) == 1
    assert "model version directory" in capsys.readouterr().err


def test_serve_takes_a_version_directory_or_an_imagenet_file_with_labels() -> None:
    args = build_parser().parse_args(["serve", "--model", "out/models/v1"])
    assert args.model == "out/models/v1" and args.labels is None
