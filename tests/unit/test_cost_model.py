"""The cost model (imageflow/cost/model.py) on a measurements file written here and the shipped prices file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageflow.cost.model import PRICES, CostInputError, chain_transitions, markdown, rows

MEASURED = {
    "measured": "2026-11-28T00:00:00Z",
    "command": "benchmarks/handler_benchmark.py",
    "machine": "x86_64, 2 CPUs",
    "images": 10,
    "image_bytes_mean": 3000,
    "model_seconds_mean": 0.02,
    "handlers": {
        name: {"seconds_mean": seconds, "memory_needed_mb": 90.0}
        for name, seconds in (("serialize", 0.004), ("classify", 0.03), ("threshold", 0.002))
    },
}


@pytest.fixture
def measured(tmp_path: Path) -> Path:
    path = tmp_path / "measured.json"
    path.write_text(json.dumps(MEASURED))
    return path


def _cost(table: list, prefix: str) -> float:
    return next(row.per_million for row in table if row.what.startswith(prefix))


def test_express_children_cost_less_than_standard_ones_and_arm64_less_than_x86(measured: Path) -> None:
    table, notes = rows(measured, PRICES)
    assert _cost(table, "orchestration: classifyBatch, Express") < _cost(
        table, "orchestration: classifyBatch, Standard"
    )
    for megabytes in (256, 512, 1024):
        assert _cost(table, f"Lambda arm64, {megabytes} MB") < _cost(table, f"Lambda x86_64, {megabytes} MB")
    assert any("recorded" in note for note in notes)
    text = markdown(table, notes)
    assert "Serverless Inference" in text and "real-time" in text


def test_transitions_are_counted_from_the_asl_files() -> None:
    single, child = chain_transitions()
    assert single >= 4  # Correlate, Serialize, Classify, Threshold
    assert child > single  # the child wraps the same chain


def test_a_missing_measurement_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "measured.json"
    path.write_text(json.dumps({**MEASURED, "handlers": {}}))
    with pytest.raises(CostInputError, match=r"measured.json: missing handlers.serialize.seconds_mean"):
        rows(path, PRICES)
