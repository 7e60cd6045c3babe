"""Report figures from a capture tree, checked against plain-Python arithmetic over the known records."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imageflow.report.aggregate import read_captures, summarise
from imageflow.report.labels import parse_labels
from imageflow.report.sources import list_capture_files
from imageflow.report.timebins import default_bin, format_bin, format_span, parse_bin, parse_time

LABELS = ("bicycle", "motorcycle")
THRESHOLD = 0.73
START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


def _output(values: list[float], form: str) -> dict:
    csv_text = ",".join(repr(v) for v in values)
    if form == "json":
        return {"observedContentType": "application/json", "data": json.dumps(values), "encoding": "JSON"}
    if form == "csv":
        return {"observedContentType": "text/csv", "data": csv_text, "encoding": "CSV"}
    text = json.dumps(values) if form == "b64json" else csv_text
    content_type = "application/json" if form == "b64json" else "text/csv"
    return {"observedContentType": content_type, "data": base64.b64encode(text.encode()).decode(), "encoding": "BASE64"}


def _line(moment: datetime, output: dict | None, with_input: bool = True) -> str:
    data: dict = {}
    if with_input:
        data["endpointInput"] = {"observedContentType": "image/png", "data": "iVBORw0K" * 600, "encoding": "BASE64"}
    if output is not None:
        data["endpointOutput"] = output
    meta = {"eventId": "e", "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return json.dumps({"captureData": data, "eventMetadata": meta, "eventVersion": "0"}, separators=(",", ":"))


@pytest.fixture(scope="module")
def capture_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, list[float]]]]:
    """Five hours of captures in SageMaker's layout, every encoding, plus junk; returns the truth."""
    rng = random.Random(3)
    root = tmp_path_factory.mktemp("capture")
    truth: list[tuple[float, list[float]]] = []
    forms = ["json", "csv", "b64json", "b64csv"]
    for hour in range(5):
        folder_time = START + timedelta(hours=hour)
        folder = root / "imageflow-endpoint" / "AllTraffic" / f"{folder_time:%Y/%m/%d/%H}"
        folder.mkdir(parents=True)
        lines = []
        for i in range(40):
            moment = folder_time + timedelta(seconds=rng.randrange(3600))
            first = round(rng.random(), 4)
            values = [first, round(1 - first, 4)]
            truth.append((moment.timestamp(), values))
            lines.append(_line(moment, _output(values, forms[i % 4])))
        lines.append(_line(folder_time, None))  # input only
        lines.append("{not json")
        lines.append(_line(folder_time, _output([1.2, -0.2], "json")))
        lines.append(_line(folder_time, _output([0.1, 0.2, 0.7], "csv")))
        lines.append("")  # blank lines are not records
        (folder / "capture-0.jsonl").write_text("\n".join(lines) + "\n")
    (root / "notes.txt").write_text("not a capture file")
    return root, truth


def test_figures_match_independent_arithmetic(capture_tree: tuple[Path, list]) -> None:
    root, truth = capture_tree
    stats = read_captures(str(root), LABELS)
    binned = summarise(stats, 1800, THRESHOLD)

    expected: dict[int, list[float]] = defaultdict(list)
    labels: Counter[int] = Counter()
    for epoch, values in truth:
        expected[int(epoch // 1800) * 1800].append(max(values))
        labels[values.index(max(values))] += 1
    got = {int(start): i for i, start in enumerate(binned.bin_starts)}
    for start, confidences in expected.items():
        i = got[start]
        assert binned.count[i] == len(confidences)
        assert binned.mean_confidence[i] == pytest.approx(sum(confidences) / len(confidences))
        assert binned.under_share[i] == pytest.approx(sum(c < THRESHOLD for c in confidences) / len(confidences))
    assert sum(binned.count) == len(truth) == binned.total == 200
    assert list(binned.label_counts) == [labels[0], labels[1]]
    assert binned.under_total == sum(max(v) < THRESHOLD for _, v in truth)
    assert binned.mean_overall == pytest.approx(sum(max(v) for _, v in truth) / len(truth))

    assert stats.files == 5
    assert stats.input_only == 5
    assert stats.lines == 5 * 44
    assert stats.records == 5 * 41
    assert stats.skipped == {
        "invalid JSON": 5,
        "probability outside [0, 1]": 5,
        "output shape does not match labels": 5,
    }
    assert dict(stats.origins) == {"imageflow-endpoint/AllTraffic": 5}


def test_percentiles_match_numpy(capture_tree: tuple[Path, list]) -> None:
    import numpy as np

    root, truth = capture_tree
    binned = summarise(read_captures(str(root), LABELS), 3600, THRESHOLD)
    for i, start in enumerate(binned.bin_starts):
        confidences = [max(v) for epoch, v in truth if start <= epoch < start + 3600]
        assert binned.p10_confidence[i] == pytest.approx(np.percentile(confidences, 10))
        assert binned.p90_confidence[i] == pytest.approx(np.percentile(confidences, 90))


def test_time_window_filters_records_and_prunes_hour_folders(capture_tree: tuple[Path, list]) -> None:
    root, truth = capture_tree
    since, until = (START + timedelta(hours=2, minutes=30)).timestamp(), (START + timedelta(hours=3)).timestamp()
    stats = read_captures(str(root), LABELS, since, until)
    assert stats.inferences == sum(since <= epoch < until for epoch, _ in truth)
    # 15:30-16:00: hour folders 13:00 and 17:00 are over an hour outside it and never opened.
    assert [f.hour for f in list_capture_files(str(root), since, until)] == [
        (START + timedelta(hours=h)).timestamp() for h in (1, 2, 3)
    ]
    assert stats.files == 3


def test_empty_window_gives_an_empty_summary(capture_tree: tuple[Path, list]) -> None:
    root, _ = capture_tree
    stats = read_captures(str(root), LABELS, parse_time("2030-01-01"), None)
    binned = summarise(stats, 3600, THRESHOLD)
    assert binned.total == 0 and binned.bin_starts.size == 0 and stats.time_range() is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5min", 300), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1w", 604800)]
)
def test_bin_widths_parse_and_print_back(text: str, seconds: int) -> None:
    assert parse_bin(text) == seconds
    assert parse_bin(format_bin(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "0h", "5", "1y", "-1h", "h"])
def test_bad_bin_widths_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="bad bin width"):
        parse_bin(text)


@pytest.mark.parametrize(
    ("hours", "expected"), [(0, 60), (0.5, 60), (4.9, 300), (5, 600), (24, 1800), (24 * 7, 3 * 3600), (24 * 30, 86400)]
)
def test_default_bin_keeps_the_plot_readable(hours: float, expected: int) -> None:
    assert default_bin(0, hours * 3600) == expected
    assert hours * 3600 / expected < 60


def test_span_text_repeats_the_date_only_when_it_changes() -> None:
    day = parse_time("2026-11-20T13:00Z")
    assert format_span(day, day + 5 * 3600) == "2026-11-20 13:00\u201318:00 UTC"
    assert format_span(day, day + 86400) == "2026-11-20 13:00\u20132026-11-21 13:00 UTC"


def test_labels_from_a_comma_list_or_a_label_map(tmp_path: Path) -> None:
    assert parse_labels("bicycle, motorcycle") == LABELS
    label_map = tmp_path / "bicycle_motorcycle.json"
    label_map.write_text(json.dumps({"labels": ["bicycle", "motorcycle"], "source": "imagenet"}))
    assert parse_labels(str(label_map)) == LABELS
    for bad in ("a,,b", "a,a", str(tmp_path / "missing.json")):
        with pytest.raises(ValueError):
            parse_labels(bad)
