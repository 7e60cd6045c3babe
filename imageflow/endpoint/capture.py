"""Data capture in SageMaker Model Monitor's own format and S3 layout.

Each captured invocation is one JSON line::

    {"captureData": {"endpointInput":  {"observedContentType": "image/png", "mode": "INPUT",
                                        "data": "<base64>", "encoding": "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "[0.98, 0.02]", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid4>", "inferenceId": "<optional>", "inferenceTime": "2026-11-20T13:05:27Z"},
     "eventVersion": "0"}

written to ``<destination>/<endpoint-name>/<variant>/yyyy/mm/dd/hh/<mm-ss-fff>-<uuid>.jsonl`` (UTC hour of
the records it holds), so Model Monitor tooling and the report read local and AWS capture alike.

Lines are buffered and written in batches (by count, size or age, and on ``close``) so a 1,000-image run
makes a handful of PUTs, with bounded memory.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson

logger = logging.getLogger(__name__)

DEFAULT_VARIANT = "AllTraffic"  # SageMaker's name for a single-variant endpoint's variant
JSON_CONTENT_TYPES = ("application/json", "application/jsonlines", "application/x-ndjson")
CSV_CONTENT_TYPES = ("text/csv",)


class CaptureDestination(Protocol):
    """Where capture files go: ``put(key, body)`` stores one file under a relative key."""

    def put(self, key: str, body: bytes) -> None: ...

    def describe(self, key: str) -> str: ...


class S3Destination:
    """An S3 bucket + prefix, written through any boto3 S3 client (moto locally, AWS in the cloud)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    def _full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=body)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full_key(key)}"


class LocalDirectoryDestination:
    """A plain directory, same layout as S3 (handy offline without any S3 at all)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)  # readers never see a half-written file

    def describe(self, key: str) -> str:
        return str(self.root / key)


def destination_from_uri(uri: str, s3_client: Any | None = None) -> CaptureDestination:
    """``s3://bucket/prefix`` -> S3Destination (client from boto3's normal config unless given);
    ``file:///dir`` or a plain path -> LocalDirectoryDestination."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"capture URI {uri!r} has no bucket; expected s3://bucket/prefix")
        if s3_client is None:
            import boto3  # deferred: only S3 destinations need it

            s3_client = boto3.client("s3")
        return S3Destination(parsed.netloc, parsed.path, s3_client)
    if parsed.scheme == "file":
        return LocalDirectoryDestination(parsed.path)
    if parsed.scheme:
        raise ValueError(f"capture URI {uri!r}: unsupported scheme {parsed.scheme!r} (use s3:// or a directory)")
    return LocalDirectoryDestination(uri)


def _encode(data: bytes, content_type: str) -> tuple[str, str]:
    """(data, encoding) the way Model Monitor records it: text for JSON/CSV, base64 for anything else."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_CONTENT_TYPES or media_type in CSV_CONTENT_TYPES:
        try:
            return data.decode("utf-8"), "JSON" if media_type in JSON_CONTENT_TYPES else "CSV"
        except UnicodeDecodeError:
            pass  # not really text: fall through to base64 so the record stays valid JSON
    return base64.b64encode(data).decode("ascii"), "BASE64"


def _captured(mode: str, data: bytes, content_type: str) -> dict[str, str]:
    """One side of a capture record: ``endpointInput`` or ``endpointOutput``."""
    text, encoding = _encode(data, content_type)
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def format_inference_time(moment: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` and whole seconds, as in SageMaker's capture files."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_record(
    *,
    input_data: bytes | None,
    input_content_type: str,
    output_data: bytes | None,
    output_content_type: str,
    inference_time: datetime,
    inference_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One capture record (a dict ready for ``json.dumps``); input or output may be omitted."""
    capture: dict[str, Any] = {}
    if input_data is not None:
        capture["endpointInput"] = _captured("INPUT", input_data, input_content_type)
    if output_data is not None:
        capture["endpointOutput"] = _captured("OUTPUT", output_data, output_content_type)
    metadata: dict[str, str] = {"eventId": event_id or str(uuid.uuid4())}
    if inference_id:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = format_inference_time(inference_time)
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(endpoint_name: str, variant: str, file_time: datetime) -> str:
    """Relative key of one capture file: ``<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-fff>-<uuid>.jsonl``."""
    t = file_time.astimezone(UTC)
    name = f"{t:%M-%S}-{t.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return f"{endpoint_name}/{variant}/{t:%Y/%m/%d/%H}/{name}"


@dataclass
class _Pending:
    hour: str  # yyyy/mm/dd/hh of the records: one file never spans two hour folders
    first_time: datetime
    lines: list[bytes]


class DataCaptureWriter:
    """Thread-safe, batching writer of capture records for one endpoint variant.

    Records are flushed when ``max_records`` or ``max_bytes`` accumulate, when the oldest buffered record
    is ``max_age_seconds`` old (a background thread checks), and on ``flush()``/``close()``. A failed write
    is logged and its records kept for the next flush, up to ``max_pending_bytes``; beyond that the oldest
    are dropped and counted in ``dropped_records`` (capture is best-effort, as in SageMaker, and must never
    fail or stall an inference).
    """

    def __init__(
        self,
        destination: CaptureDestination,
        endpoint_name: str,
        variant_name: str = DEFAULT_VARIANT,
        *,
        max_records: int = 200,
        max_bytes: int = 8 * 1024 * 1024,
        max_age_seconds: float = 5.0,
        max_pending_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.destination = destination
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self.max_pending_bytes = max_pending_bytes
        self._clock = clock
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one batch write at a time keeps files in order
        self._buffer: list[_Pending] = []
        self._buffered_records = 0
        self._buffered_bytes = 0
        self._oldest_monotonic: float | None = None
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self.written_keys: list[str] = []  # relative keys of the files written, in order
        self.written_records = 0
        self.dropped_records = 0

    # -- public API -------------------------------------------------------------------------------

    def capture(
        self,
        *,
        input_data: bytes | None,
        input_content_type: str,
        output_data: bytes | None,
        output_content_type: str = "application/json",
        inference_id: str | None = None,
        inference_time: datetime | None = None,
    ) -> str:
        """Buffer one record; returns its eventId. Cheap: the write happens in batches."""
        moment = inference_time or self._clock()
        record = build_record(
            input_data=input_data,
            input_content_type=input_content_type,
            output_data=output_data,
            output_content_type=output_content_type,
            inference_time=moment,
            inference_id=inference_id,
        )
        # orjson: the record carries the image as a long base64 string, which the stdlib
        # encoder scans character by character.
        line = orjson.dumps(record) + b"\n"
        hour = f"{moment.astimezone(UTC):%Y/%m/%d/%H}"
        with self._lock:
            if self._closed:
                raise RuntimeError("DataCaptureWriter is closed")
            self._append(hour, moment, [line])
            full = self._buffered_records >= self.max_records or self._buffered_bytes >= self.max_bytes
            backlog = self._buffered_bytes >= self.max_pending_bytes
        if full and not backlog and self._ensure_flusher():
            self._wake.set()  # the background thread writes; the request does not wait for S3
        elif full:
            self.flush()  # no flusher, or it cannot keep up: write in the caller (back-pressure)
        else:
            self._ensure_flusher()
        return record["eventMetadata"]["eventId"]

    def flush(self) -> None:
        """Write every buffered record now (one file per hour folder)."""
        with self._write_lock:
            with self._lock:
                batches, self._buffer = self._buffer, []
                self._buffered_records = self._buffered_bytes = 0
                self._oldest_monotonic = None
            for i, batch in enumerate(batches):
                key = capture_key(self.endpoint_name, self.variant_name, batch.first_time)
                try:
                    self.destination.put(key, b"".join(batch.lines))
                except Exception as exc:  # S3 errors vary (ClientError, EndpointConnectionError, ...)
                    where = self.destination.describe(key)
                    logger.error("data capture: writing %s failed (%s); will retry", where, exc)
                    self._requeue(batches[i:])
                    return
                self.written_keys.append(key)
                self.written_records += len(batch.lines)

    def close(self) -> None:
        """Flush what is buffered and stop the background flusher. Idempotent."""
        with self._lock:
            self._closed = True
        self._stop.set()
        self._wake.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=max(1.0, self.max_age_seconds * 2))
        self.flush()

    def __enter__(self) -> DataCaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> str:
        """Where files go, e.g. ``s3://bucket/prefix/<endpoint>/<variant>/``."""
        return self.destination.describe(f"{self.endpoint_name}/{self.variant_name}/")

    # -- internals ----------------------------------------------------------------------------------

    def _append(self, hour: str, moment: datetime, lines: list[bytes]) -> None:
        # caller holds self._lock
        if self._buffer and self._buffer[-1].hour == hour:
            self._buffer[-1].lines.extend(lines)
        else:
            self._buffer.append(_Pending(hour, moment, list(lines)))
        self._buffered_records += len(lines)
        self._buffered_bytes += sum(len(line) for line in lines)
        if self._oldest_monotonic is None:
            self._oldest_monotonic = time.monotonic()

    def _requeue(self, failed: list[_Pending]) -> None:
        with self._lock:
            current, self._buffer = self._buffer, []
            self._buffered_records = self._buffered_bytes = 0
            self._oldest_monotonic = None
            for batch in [*failed, *current]:
                self._append(batch.hour, batch.first_time, batch.lines)
            # bounded memory: drop the oldest lines once the backlog exceeds the cap
            while self._buffered_bytes > self.max_pending_bytes and self._buffer:
                line = self._buffer[0].lines.pop(0)
                self._buffered_bytes -= len(line)
                self._buffered_records -= 1
                self.dropped_records += 1
                if not self._buffer[0].lines:
                    self._buffer.pop(0)
        if self.dropped_records:
            logger.error("data capture: %d records dropped so far (destination failing)", self.dropped_records)

    def _ensure_flusher(self) -> bool:
        """Start the background flusher once; False when age-based flushing is disabled."""
        if self.max_age_seconds <= 0:
            return False
        if self._flusher is None:
            with self._lock:
                if self._flusher is None and not self._closed:
                    self._flusher = threading.Thread(target=self._flush_loop, name="data-capture-flusher", daemon=True)
                    self._flusher.start()
        return self._flusher is not None

    def _flush_loop(self) -> None:
        interval = max(0.05, self.max_age_seconds / 4)
        while not self._stop.is_set():
            woken = self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return  # close() does the final flush
            with self._lock:
                oldest = self._oldest_monotonic
            if woken or (oldest is not None and time.monotonic() - oldest >= self.max_age_seconds):
                self.flush()
