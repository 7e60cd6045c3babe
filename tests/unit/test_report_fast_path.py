"""The reader's fast paths give exactly what the general ones give.

``parse_common_span`` may decline a line (None) but must never disagree with
``parse_general_span``; reading with worker processes must give the same columns, in the same
order, as reading in one process.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imageflow.report import aggregate
from imageflow.report.aggregate import read_captures, worker_count
from imageflow.report.captures import (
    ELIDE_OVER,
    Inference,
    InputOnly,
    parse_capture_span,
    parse_common_span,
    parse_general_span,
)
from imageflow.report.sources import CaptureFile, list_capture_files

B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
LONG_INPUT = "iVBORw0K" * 600  # 4.8 KiB: over ELIDE_OVER, so the fast path cuts it


def _assert_agree(line: bytes, n_labels: int = 2) -> object:
    general = parse_general_span(line, 0, len(line), n_labels)
    common = parse_common_span(line, 0, len(line), n_labels)
    assert common is None or common == general, (common, general)
    assert parse_capture_span(line, 0, len(line), n_labels) == general
    return common


def _encode_output(values: list, form: str) -> dict:
    if form == "json":
        return {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": json.dumps(values),
            "encoding": "JSON",
        }
    text = json.dumps(values) if form.endswith("json") else ",".join(str(v) for v in values)
    if form == "csv":
        return {"observedContentType": "text/csv", "mode": "OUTPUT", "data": text, "encoding": "CSV"}
    return {"observedContentType": "text/csv" if form == "b64csv" else "application/json",
            "data": base64.b64encode(text.encode()).decode(), "encoding": "BASE64"}  # fmt: skip


def _record(
    values: list, form: str, image: str | None, with_output: bool, time: str, output_first: bool, extra: dict
) -> dict:
    capture: dict = {}
    output = _encode_output(values, form)
    if with_output and output_first:
        capture["endpointOutput"] = output
    if image is not None:
        capture["endpointInput"] = {
            "observedContentType": "image/png",
            "mode": "INPUT",
            "data": image,
            "encoding": "BASE64",
        }
    if with_output and not output_first:
        capture["endpointOutput"] = output
    meta = {"eventId": "6c0f2c5e-0000-4000-8000-000000000000", "inferenceId": "7", "inferenceTime": time}
    return {"captureData": capture, "eventMetadata": meta, "eventVersion": "0", **extra}


probability = st.floats(0, 1) | st.sampled_from([0, 1, 1.5, -0.0, True, "0.5", None, float("nan")])
records = st.builds(
    _record,
    values=st.lists(probability, min_size=0, max_size=4) | st.lists(st.floats(0, 1), min_size=2, max_size=2),
    form=st.sampled_from(["json", "csv", "b64json", "b64csv"]),
    image=st.none() | st.text(B64_ALPHABET, max_size=ELIDE_OVER + 20) | st.just(LONG_INPUT),
    with_output=st.booleans(),
    time=st.sampled_from(["2026-11-20T13:05:27Z", "2026-11-20T13:05:27.250+01:00", "2026-11-20T13:05:27", "", "x"]),
    output_first=st.booleans(),
    extra=st.sampled_from([{}, {"note": 'a "data" \\"data\\": "x"'}, {"data": LONG_INPUT}, {"e": "\x00" + "0"}]),
)


@settings(max_examples=400, deadline=None)
@given(records, st.sampled_from([(",", ":"), (", ", ": "), (" , ", " :  ")]), st.sampled_from([1, 2, 3]))
def test_fast_path_agrees_with_the_general_path(record: dict, separators: tuple[str, str], n_labels: int) -> None:
    _assert_agree(json.dumps(record, separators=separators).encode(), n_labels)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.randoms(use_true_random=False))
def test_fast_path_agrees_on_damaged_lines(record: dict, rng: random.Random) -> None:
    # Damage near the places the fast path cares about: quotes, backslashes, colons, the cut.
    line = bytearray(json.dumps(record, separators=(",", ":")).encode())
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(line) + 1)
        action = rng.choice(["insert", "delete", "replace"])
        junk = rng.choice([b'"', b"\\", b":", b"}", b" ", b'"data":"', b"\\u0000", b"\xff", b"1"])
        if action == "insert":
            line[at:at] = junk
        elif action == "delete":
            del line[at : at + rng.randint(1, 8)]
        else:
            line[at : at + len(junk)] = junk
    _assert_agree(bytes(line))


TIME = "2026-11-20T13:05:27Z"
COMMON_FORMS = {
    "json": (_record([0.2, 0.8], "json", LONG_INPUT, True, "2026-11-20T13:05:27.123Z", False, {}), 2),
    "csv": (_record([0.2, 0.8], "csv", LONG_INPUT, True, TIME, False, {}), 2),
    "base64 json": (_record([0.2, 0.8], "b64json", LONG_INPUT, True, TIME, False, {}), 2),
    "base64 csv": (_record([0.2, 0.8], "b64csv", LONG_INPUT, True, TIME, False, {}), 2),
    "output only": (_record([0.2, 0.8], "json", None, True, TIME, False, {}), 2),
    "output before input": (_record([0.2, 0.8], "json", LONG_INPUT, True, TIME, True, {}), 2),
    "long output is cut and restored": (_record([0.0] * 300 + [0.8], "json", None, True, TIME, False, {}), 301),
}


@pytest.mark.parametrize(("record", "n_labels"), COMMON_FORMS.values(), ids=COMMON_FORMS.keys())
def test_what_sagemaker_writes_takes_the_fast_path(record: dict, n_labels: int) -> None:
    common = _assert_agree(json.dumps(record, separators=(",", ":")).encode(), n_labels)
    assert isinstance(common, Inference) and common.confidence == 0.8


def test_input_only_takes_the_fast_path() -> None:
    line = json.dumps(_record([], "json", LONG_INPUT, False, TIME, False, {})).encode()
    assert isinstance(_assert_agree(line), InputOnly)


# --- reading with worker processes ------------------------------------------------------------


def _write_tree(root: Path) -> None:
    rng = random.Random(5)
    for hour in range(6):
        folder = root / "ep" / "AllTraffic" / f"2026/11/20/{10 + hour:02d}"
        folder.mkdir(parents=True)
        for part in range(3):
            lines = []
            for _ in range(25):
                first = round(rng.random(), 4)
                form = rng.choice(["json", "csv", "b64json", "b64csv"])
                time = f"2026-11-20T{10 + hour:02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
                lines.append(json.dumps(_record([first, round(1 - first, 4)], form, LONG_INPUT, True, time, False, {})))
            lines += ["{broken", json.dumps(_record([1.5, 0.1], "json", None, True, "2026-11-20T10:00:00Z", False, {}))]
            lines.append(json.dumps(_record([], "json", LONG_INPUT, False, "2026-11-20T10:00:00Z", False, {})))
            (folder / f"part-{part}.jsonl").write_text("\n".join(lines) + "\n")


# Earlier tests in the same pytest process (the endpoint's onnxruntime) leave native threads
# that Python's fork check counts; the workers run only this package's reader, which shares no
# lock with them, so that warning does not apply here.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@pytest.fixture
def many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _write_tree(tmp_path)
    # Small test data: allow workers for any size, and several batches per worker.
    monkeypatch.setattr(aggregate, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(aggregate, "BATCH_BYTES", 200_000)
    return tmp_path


def _snapshot(stats: aggregate.CaptureStats) -> tuple:
    return (
        bytes(stats.times), bytes(stats.label_index), bytes(stats.confidence), stats.files, stats.bytes_read,
        stats.lines, stats.input_only, stats.outside_window, dict(stats.skipped), dict(stats.origins),
    )  # fmt: skip


def test_workers_read_exactly_what_one_process_reads(many_files: Path) -> None:
    files = list_capture_files(str(many_files))
    serial_order: list[str] = []
    parallel_order: list[str] = []
    serial = read_captures(
        str(many_files), ("a", "b"), files=files, workers=1, on_file=lambda f: serial_order.append(f.location)
    )
    parallel = read_captures(
        str(many_files), ("a", "b"), files=files, workers=2, on_file=lambda f: parallel_order.append(f.location)
    )
    assert serial.workers == 1 and parallel.workers == 2
    assert _snapshot(parallel) == _snapshot(serial)
    assert parallel_order == serial_order == [f.location for f in files]
    assert serial.inferences == 18 * 25 and serial.input_only == 18 and serial.skipped.total() == 36


def test_workers_apply_the_time_window(many_files: Path) -> None:
    since, until = 1795182000.0, 1795189200.0  # 2026-11-20 11:00-13:00 UTC
    serial = read_captures(str(many_files), ("a", "b"), since, until, workers=1)
    parallel = read_captures(str(many_files), ("a", "b"), since, until, workers=2)
    assert _snapshot(parallel) == _snapshot(serial) and serial.outside_window > 0


def test_a_worker_error_reaches_the_caller(many_files: Path) -> None:
    files = list_capture_files(str(many_files))
    missing = CaptureFile(str(many_files / "gone.jsonl"), files[0].size)
    with pytest.raises(FileNotFoundError):
        read_captures(str(many_files), ("a", "b"), files=[*files, missing], workers=2)


def test_when_workers_are_not_used(many_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = list_capture_files(str(many_files))
    assert worker_count(files, 2) == 2
    assert worker_count(files, 1) == 1
    assert worker_count(files[:1], 2) == 1
    assert worker_count([CaptureFile("s3://bucket/key.jsonl", 1 << 30)] * 4, 2) == 1
    monkeypatch.setattr(aggregate, "PARALLEL_MIN_BYTES", 1 << 40)
    assert worker_count(files, 2) == 1
    monkeypatch.setattr(aggregate, "PARALLEL_MIN_BYTES", 0)
    # Forking a multi-threaded process can deadlock the child: read in this process instead.
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert worker_count(files, 2) == 1
    finally:
        release.set()
        thread.join()
