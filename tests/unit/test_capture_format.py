"""Data capture: SageMaker Model Monitor's record format and file layout, batching, thread safety."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from imageflow.endpoint.capture import (
    DataCaptureWriter,
    LocalDirectoryDestination,
    S3Destination,
    build_record,
    capture_key,
    destination_from_uri,
)

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
WHEN = datetime(2026, 11, 20, 13, 5, 27, 123456, tzinfo=UTC)
KEY_PATTERN = re.compile(
    r"^(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$"
)


def test_record_has_sagemaker_keys_and_encodings() -> None:
    record = build_record(
        input_data=PNG_BYTES,
        input_content_type="image/png",
        output_data=b"[0.98, 0.02]",
        output_content_type="application/json",
        inference_time=WHEN,
        inference_id="req-1",
    )
    parsed = json.loads(json.dumps(record))  # survives a JSON round trip unchanged
    assert set(parsed) == {"captureData", "eventMetadata", "eventVersion"}
    assert parsed["eventVersion"] == "0"
    assert parsed["captureData"]["endpointInput"] == {
        "observedContentType": "image/png",
        "mode": "INPUT",
        "data": base64.b64encode(PNG_BYTES).decode(),
        "encoding": "BASE64",
    }
    assert parsed["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": "[0.98, 0.02]",
        "encoding": "JSON",
    }
    meta = parsed["eventMetadata"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", meta["eventId"])
    assert meta["inferenceId"] == "req-1"
    assert meta["inferenceTime"] == "2026-11-20T13:05:27Z"
    assert base64.b64decode(parsed["captureData"]["endpointInput"]["data"]) == PNG_BYTES


def test_record_without_inference_id_or_output() -> None:
    record = build_record(
        input_data=b"1,2,3",
        input_content_type="text/csv",
        output_data=None,
        output_content_type="application/json",
        inference_time=WHEN.astimezone(timezone(timedelta(hours=2))),  # any zone in, UTC out
    )
    assert "inferenceId" not in record["eventMetadata"]
    assert "endpointOutput" not in record["captureData"]
    assert record["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert record["eventMetadata"]["inferenceTime"] == "2026-11-20T13:05:27Z"


def test_capture_key_layout() -> None:
    key = capture_key("my-endpoint", "AllTraffic", WHEN)
    match = KEY_PATTERN.match(key)
    assert match, key
    assert match.group("endpoint", "variant", "y", "m", "d", "h") == (
        "my-endpoint",
        "AllTraffic",
        "2026",
        "11",
        "20",
        "13",
    )
    assert key.split("/")[-1].startswith("05-27-123-")


def read_capture_files(root: Path) -> dict[str, list[dict]]:
    files = {}
    for path in sorted(root.rglob("*.jsonl")):
        rel = path.relative_to(root).as_posix()
        files[rel] = [json.loads(line) for line in path.read_text().splitlines()]
    return files


def capture_n(writer: DataCaptureWriter, n: int, start: datetime = WHEN, step: timedelta = timedelta(0)) -> None:
    for i in range(n):
        writer.capture(
            input_data=PNG_BYTES,
            input_content_type="image/png",
            output_data=f"[{i}, 0]".encode(),
            inference_time=start + i * step,
        )


def test_writer_batches_records_into_few_files(tmp_path: Path) -> None:
    writer = DataCaptureWriter(LocalDirectoryDestination(tmp_path), "ep", max_records=10, max_age_seconds=0)
    capture_n(writer, 25)
    assert writer.written_records == 20  # two full batches written as they filled
    writer.close()
    files = read_capture_files(tmp_path)
    assert sorted(len(lines) for lines in files.values()) == [5, 10, 10]
    outputs = sorted(int(json.loads(r["captureData"]["endpointOutput"]["data"])[0]) for v in files.values() for r in v)
    assert outputs == list(range(25))  # every record exactly once
    for key in files:
        assert KEY_PATTERN.match(key), key


def test_writer_splits_files_at_hour_boundaries(tmp_path: Path) -> None:
    writer = DataCaptureWriter(LocalDirectoryDestination(tmp_path), "ep", max_age_seconds=0)
    capture_n(writer, 4, start=datetime(2026, 1, 1, 9, 59, 58, tzinfo=UTC), step=timedelta(seconds=1))
    writer.close()
    hours = sorted({key.split("/")[5] for key in read_capture_files(tmp_path)})
    assert hours == ["09", "10"]


def test_writer_flushes_by_age_in_the_background(tmp_path: Path) -> None:
    writer = DataCaptureWriter(LocalDirectoryDestination(tmp_path), "ep", max_age_seconds=0.2)
    capture_n(writer, 3)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while writer.written_records < 3 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)
    assert writer.written_records == 3
    writer.close()


def test_writer_is_thread_safe(tmp_path: Path) -> None:
    writer = DataCaptureWriter(LocalDirectoryDestination(tmp_path), "ep", max_records=17, max_age_seconds=0.1)
    threads = [threading.Thread(target=capture_n, args=(writer, 50)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    files = read_capture_files(tmp_path)
    assert sum(len(v) for v in files.values()) == 400
    assert len({r["eventMetadata"]["eventId"] for v in files.values() for r in v}) == 400
    assert len(files) < 400 / 10  # batched, not one file per record


class FlakyDestination(LocalDirectoryDestination):
    """A real directory destination that refuses writes while ``down`` is set (an S3 outage)."""

    down = True

    def put(self, key: str, body: bytes) -> None:
        if self.down:
            raise ConnectionError("destination unavailable")
        super().put(key, body)


def test_failed_writes_are_retried_then_bounded(tmp_path: Path) -> None:
    dest = FlakyDestination(tmp_path)
    writer = DataCaptureWriter(dest, "ep", max_records=5, max_age_seconds=0, max_pending_bytes=10_000)
    capture_n(writer, 5)  # first batch fails: kept for the next flush
    assert writer.written_records == 0 and writer.dropped_records == 0
    capture_n(writer, 40)  # backlog grows past max_pending_bytes: oldest records dropped, counted
    assert writer.dropped_records > 0
    dest.down = False
    writer.close()
    assert writer.written_records + writer.dropped_records == 45
    assert sum(len(v) for v in read_capture_files(tmp_path).values()) == writer.written_records


def test_closed_writer_refuses_records(tmp_path: Path) -> None:
    writer = DataCaptureWriter(LocalDirectoryDestination(tmp_path), "ep")
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        capture_n(writer, 1)


def test_destination_from_uri(tmp_path: Path) -> None:
    s3 = destination_from_uri("s3://bucket/some/prefix/", s3_client=object())
    assert isinstance(s3, S3Destination)
    assert s3.describe("ep/AllTraffic/x.jsonl") == "s3://bucket/some/prefix/ep/AllTraffic/x.jsonl"
    assert isinstance(destination_from_uri(str(tmp_path)), LocalDirectoryDestination)
    assert isinstance(destination_from_uri(f"file://{tmp_path}"), LocalDirectoryDestination)
    with pytest.raises(ValueError, match="no bucket"):
        destination_from_uri("s3:///prefix", s3_client=object())
    with pytest.raises(ValueError, match="unsupported scheme"):
        destination_from_uri("gs://bucket/prefix")
