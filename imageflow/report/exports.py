"""The report's figures as plain data: a per-bin table, per-label counts and a summary, as CSV/JSON."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from imageflow.report.aggregate import BinnedSummary, CaptureStats
from imageflow.report.timebins import format_bin, to_utc

BINS_CSV = "bins.csv"
LABELS_CSV = "labels.csv"
REPORT_JSON = "report.json"


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else to_utc(epoch).isoformat().replace("+00:00", "Z")


def _number(value: float) -> float | None:
    # JSON has no NaN; an empty bin's mean is "no value", not zero.
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def bin_rows(binned: BinnedSummary) -> list[dict[str, Any]]:
    """One row per bin (empty bins included so the time axis has no holes)."""
    rows = []
    for i, start in enumerate(binned.bin_starts):
        row: dict[str, Any] = {
            "bin_start": _iso(float(start)),
            "bin_end": _iso(float(start) + binned.bin_seconds),
            "inferences": int(binned.count[i]),
            "mean_confidence": _number(binned.mean_confidence[i]),
            "p10_confidence": _number(binned.p10_confidence[i]),
            "p90_confidence": _number(binned.p90_confidence[i]),
            "under_threshold_share": _number(binned.under_share[i]),
        }
        for j, label in enumerate(binned.labels):
            row[f"predicted_{label}"] = int(binned.label_counts_per_bin[i, j])
        rows.append(row)
    return rows


def label_rows(binned: BinnedSummary) -> list[dict[str, Any]]:
    total = max(binned.total, 1)
    return [
        {"label": label, "inferences": int(count), "share": round(int(count) / total, 6)}
        for label, count in zip(binned.labels, binned.label_counts, strict=True)
    ]


def summary(stats: CaptureStats, binned: BinnedSummary, sources: list[str]) -> dict[str, Any]:
    """Everything the report states, in one JSON-ready mapping."""
    return {
        "sources": sources,
        "endpoints": dict(sorted(stats.origins.items())),
        "window": {"since": _iso(stats.since), "until": _iso(stats.until)},
        "first_inference": _iso(binned.first_time),
        "last_inference": _iso(binned.last_time),
        "bin": format_bin(binned.bin_seconds),
        "threshold": binned.threshold,
        "labels": list(binned.labels),
        "inferences": binned.total,
        "mean_confidence": _number(binned.mean_overall),
        "under_threshold": binned.under_total,
        "under_threshold_share": _number(binned.under_total / binned.total) if binned.total else None,
        "files": stats.files,
        "bytes_read": stats.bytes_read,
        "lines": stats.lines,
        "records": stats.records,
        "input_only_records": stats.input_only,
        "outside_window_records": stats.outside_window,
        "skipped_lines": stats.skipped.total(),
        "skipped_by_reason": dict(stats.skipped.most_common()),
    }


def write_data_files(out: Path, stats: CaptureStats, binned: BinnedSummary, sources: list[str]) -> list[Path]:
    """Write bins.csv, labels.csv and report.json into ``out``; return their paths."""
    bins = bin_rows(binned)
    labels = label_rows(binned)
    written = [
        _write_csv(out / BINS_CSV, bins, _bin_columns(binned)),
        _write_csv(out / LABELS_CSV, labels, ["label", "inferences", "share"]),
    ]
    document = {"summary": summary(stats, binned, sources), "bins": bins, "labels": labels}
    path = out / REPORT_JSON
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.append(path)
    return written


def _bin_columns(binned: BinnedSummary) -> list[str]:
    fixed = ["bin_start", "bin_end", "inferences", "mean_confidence", "p10_confidence", "p90_confidence"]
    return [*fixed, "under_threshold_share", *(f"predicted_{label}" for label in binned.labels)]


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        # None (an empty bin's mean) becomes an empty cell, which spreadsheets read as "no value".
        writer.writerows(rows)
    return path
