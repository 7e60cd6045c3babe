"""Read capture files into compact columns, then bin them.

Reading keeps three numbers per inference (time, winning label, confidence) in ``array``
columns, 17 bytes each, and nothing of the captured request: a month of traffic fits in a few
MiB whatever the image size. Binning happens after reading because the default bin width
depends on the time span the data turns out to cover.

Large local inputs are read by forked worker processes, a batch of consecutive files each,
and their columns merged in file order: the same result as reading in one process.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from imageflow.report.captures import Inference, InputOnly, SkipReason, parse_common_span, parse_general_span
from imageflow.report.linestream import CHUNK_SIZE, OVERLONG, iter_line_spans
from imageflow.report.sources import CaptureFile, list_capture_files, open_capture

# Reading is CPU-bound Python per line plus one pass over the bytes, so local files are split
# over worker processes (threads would serialise on the GIL). Below this many bytes the ~20 ms
# of starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
# Files go to workers in batches of consecutive files of about this size: large enough that
# handing out a batch is cheap next to reading it, small enough to keep both cores busy to the end.
BATCH_BYTES = 8 << 20
# Each worker is a full interpreter (tens of MiB, mostly shared copy-on-write pages); more than
# this rarely helps since reading is also bound by memory bandwidth.
MAX_WORKERS = 8


@dataclass
class CaptureStats:
    """What was read: per-inference columns plus counts of everything else."""

    labels: tuple[str, ...]
    since: float | None = None
    until: float | None = None
    times: array = field(default_factory=lambda: array("d"))
    label_index: array = field(default_factory=lambda: array("B"))
    confidence: array = field(default_factory=lambda: array("d"))
    files: int = 0
    bytes_read: int = 0
    lines: int = 0  # non-blank lines seen
    input_only: int = 0  # valid records without a captured response
    outside_window: int = 0  # valid records filtered out by since/until
    skipped: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)  # endpoint/variant -> files
    workers: int = 1  # processes that read the files (1: this one)

    # The read buffer, shared by every file this object reads (one at a time).
    _buffer: bytearray = field(default_factory=lambda: bytearray(CHUNK_SIZE), repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.labels) > 255:
            self.label_index = array("H")  # "B" holds label indexes up to 255

    @property
    def inferences(self) -> int:
        return len(self.times)

    def time_range(self) -> tuple[float, float] | None:
        """First and last inference time, or None without inferences."""
        if not self.times:
            return None
        times = np.frombuffer(self.times, dtype=np.float64)
        return float(times.min()), float(times.max())

    @property
    def records(self) -> int:
        """Valid records read (inferences, input-only and out-of-window ones)."""
        return self.lines - self.skipped.total()

    def add_file(self, stream: Any, origin: str = "") -> None:
        """Parse every line of an open binary stream into these stats."""
        n_labels = len(self.labels)
        since = -math.inf if self.since is None else self.since
        until = math.inf if self.until is None else self.until
        # Bound methods looked up once: this loop runs per line over millions of lines.
        add_time, add_label, add_conf = self.times.append, self.label_index.append, self.confidence.append
        parse_common, parse_general = parse_common_span, parse_general_span
        skipped = self.skipped
        lines = input_only = outside = 0
        for buf, start, end in iter_line_spans(stream, buffer=self._buffer):
            lines += 1
            if start == OVERLONG:
                skipped[SkipReason.LINE_TOO_LONG.value] += 1
                continue
            # The two halves of parse_capture_span, called here to save a call per line.
            parsed = parse_common(buf, start, end, n_labels)
            if parsed is None:
                parsed = parse_general(buf, start, end, n_labels)
            if type(parsed) is Inference:
                if since <= parsed.time < until:
                    add_time(parsed.time)
                    add_label(parsed.label)
                    add_conf(parsed.confidence)
                else:
                    outside += 1
            elif type(parsed) is InputOnly:
                if since <= parsed.time < until:
                    input_only += 1
                else:
                    outside += 1
            else:
                skipped[parsed.value] += 1  # type: ignore[union-attr]
        self.files += 1
        self.lines += lines
        self.input_only += input_only
        self.outside_window += outside
        if origin:
            self.origins[origin] += 1


def read_captures(
    source: str,
    labels: Sequence[str],
    since: float | None = None,
    until: float | None = None,
    *,
    files: Sequence[CaptureFile] | None = None,
    s3_client: Any = None,
    on_file: Callable[[CaptureFile], None] | None = None,
    workers: int | None = None,
) -> CaptureStats:
    """Stream every capture file under ``source`` (folder, file or ``s3://`` URI) into stats.

    ``files`` skips listing when the caller already has the list; ``on_file`` is called after
    each file, in file order (for progress display). ``workers`` caps the processes that read
    local files (default: the CPUs this process may use); see :func:`worker_count` for when
    fewer are used. The result is the same, column order included, whatever the worker count.
    """
    stats = CaptureStats(tuple(labels), since, until)
    if files is None:
        files = list_capture_files(source, since, until, s3_client=s3_client)
    count = worker_count(files, workers)
    if count > 1:
        _read_in_workers(stats, files, count, on_file)
        return stats
    for item in files:
        with open_capture(item, s3_client=s3_client) as stream:
            stats.add_file(stream, item.origin)
        stats.bytes_read += item.size
        if on_file is not None:
            on_file(item)
    return stats


def worker_count(files: Sequence[CaptureFile], limit: int | None = None) -> int:
    """How many processes :func:`read_captures` uses for ``files``: 1 means this process alone.

    Workers are forked, which is cheap (no re-import) but only safe while this process runs a
    single Python thread (native threads of extension modules are invisible here; the workers
    run only this package's reader and share no lock with them), and only exists on POSIX.
    S3 objects are read here (a client cannot be shared with forked workers, and network
    reads are not CPU-bound); small inputs are not worth the start-up.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    count = min(available if limit is None else limit, MAX_WORKERS, len(files))
    if (
        count < 2
        or "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() > 1
        or any(item.location.startswith("s3://") for item in files)
        or sum(item.size for item in files) < PARALLEL_MIN_BYTES
    ):
        return 1
    return count


class _Part(NamedTuple):
    """What a worker sends back for a batch of files: the columns and counters, nothing else."""

    times: array
    label_index: array
    confidence: array
    lines: int
    input_only: int
    outside_window: int
    skipped: Counter[str]
    origins: Counter[str]


def _batches(files: Sequence[CaptureFile]) -> Iterator[list[CaptureFile]]:
    """Consecutive files grouped to about BATCH_BYTES, so merging in order keeps file order."""
    batch: list[CaptureFile] = []
    size = 0
    for item in files:
        batch.append(item)
        size += item.size
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# One read buffer per worker process, reused across its batches (see CaptureStats._buffer).
_worker_buffer: bytearray | None = None


def _read_batch(labels: tuple[str, ...], since: float | None, until: float | None, batch: list[CaptureFile]) -> _Part:
    """Worker side: read a batch of local files into fresh stats and return the compact part."""
    global _worker_buffer
    if _worker_buffer is None:
        _worker_buffer = bytearray(CHUNK_SIZE)
    part = CaptureStats(labels, since, until, _buffer=_worker_buffer)
    for item in batch:
        with open_capture(item) as stream:
            part.add_file(stream, item.origin)
    return _Part(
        part.times, part.label_index, part.confidence, part.lines, part.input_only, part.outside_window,
        part.skipped, part.origins,
    )  # fmt: skip


def _read_in_workers(
    stats: CaptureStats, files: Sequence[CaptureFile], count: int, on_file: Callable[[CaptureFile], None] | None
) -> None:
    """Read ``files`` in ``count`` forked workers, merging their parts in file order."""
    batches = list(_batches(files))
    read = functools.partial(_read_batch, stats.labels, stats.since, stats.until)
    # imap (ordered, not imap_unordered): parts are merged in file order, so the columns come
    # out exactly as a serial read would give them. Parts that arrive early wait in memory,
    # but they are compact columns (17 bytes per inference), never file contents.
    with multiprocessing.get_context("fork").Pool(count) as pool:
        for batch, part in zip(batches, pool.imap(read, batches), strict=True):
            stats.times.extend(part.times)
            stats.label_index.extend(part.label_index)
            stats.confidence.extend(part.confidence)
            stats.lines += part.lines
            stats.input_only += part.input_only
            stats.outside_window += part.outside_window
            stats.skipped.update(part.skipped)
            stats.origins.update(part.origins)
            stats.files += len(batch)
            for item in batch:
                stats.bytes_read += item.size
                if on_file is not None:
                    on_file(item)
        # close + join rather than the context manager's terminate: workers exit normally and
        # are reaped here, so their resource usage is accounted to this process.
        pool.close()
        pool.join()
    stats.workers = count


@dataclass(frozen=True)
class BinnedSummary:
    """Per-bin figures over a contiguous range of bins, plus overall figures."""

    labels: tuple[str, ...]
    threshold: float
    bin_seconds: int
    bin_starts: np.ndarray  # epoch seconds, one per bin, contiguous
    count: np.ndarray  # inferences per bin
    mean_confidence: np.ndarray  # NaN for empty bins
    p10_confidence: np.ndarray
    p90_confidence: np.ndarray
    under_share: np.ndarray  # share of inferences with confidence < threshold, NaN when empty
    label_counts_per_bin: np.ndarray  # shape (bins, labels)
    label_counts: np.ndarray  # per label overall
    total: int
    under_total: int
    mean_overall: float
    first_time: float | None
    last_time: float | None


def summarise(stats: CaptureStats, bin_seconds: int, threshold: float) -> BinnedSummary:
    """Bin the inferences into ``bin_seconds`` windows aligned to the epoch (UTC)."""
    times = np.frombuffer(stats.times, dtype=np.float64)
    conf = np.frombuffer(stats.confidence, dtype=np.float64)
    labels = np.frombuffer(stats.label_index, dtype=np.uint8 if stats.label_index.typecode == "B" else np.uint16)
    n_labels = len(stats.labels)
    if times.size == 0:
        empty = np.zeros(0)
        return BinnedSummary(
            stats.labels, threshold, bin_seconds, empty, empty.astype(np.int64), empty, empty, empty,
            empty, np.zeros((0, n_labels), dtype=np.int64), np.zeros(n_labels, dtype=np.int64),
            0, 0, math.nan, None, None,
        )  # fmt: skip
    bin_number = np.floor(times / bin_seconds).astype(np.int64)
    first_bin = int(bin_number.min())
    index = bin_number - first_bin
    n_bins = int(index.max()) + 1
    count = np.bincount(index, minlength=n_bins)
    sums = np.bincount(index, weights=conf, minlength=n_bins)
    under = conf < threshold
    under_count = np.bincount(index, weights=under, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / count
        under_share = under_count / count
    per_bin_labels = np.bincount(index * n_labels + labels, minlength=n_bins * n_labels).reshape(n_bins, n_labels)
    p10, p90 = _percentiles_per_bin(index, conf, count, (10, 90))
    return BinnedSummary(
        labels=stats.labels,
        threshold=threshold,
        bin_seconds=bin_seconds,
        bin_starts=(np.arange(n_bins, dtype=np.int64) + first_bin) * bin_seconds,
        count=count,
        mean_confidence=mean,
        p10_confidence=p10,
        p90_confidence=p90,
        under_share=under_share,
        label_counts_per_bin=per_bin_labels,
        label_counts=per_bin_labels.sum(axis=0),
        total=int(times.size),
        under_total=int(under.sum()),
        mean_overall=float(conf.mean()),
        first_time=float(times.min()),
        last_time=float(times.max()),
    )


def _percentiles_per_bin(
    index: np.ndarray, conf: np.ndarray, count: np.ndarray, quantiles: tuple[int, ...]
) -> tuple[np.ndarray, ...]:
    """Per-bin percentiles with numpy's default (linear) interpolation, vectorised over bins."""
    # Sort once by (bin, confidence); each bin is then a contiguous sorted slice.
    ordered = conf[np.lexsort((conf, index))]
    filled = count > 0
    starts = (np.cumsum(count) - count)[filled]
    last = (count - 1)[filled]
    results = []
    for q in quantiles:
        position = last * (q / 100)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, last)
        fraction = position - low
        values = np.full(count.size, np.nan)
        values[filled] = ordered[starts + low] * (1 - fraction) + ordered[starts + high] * fraction
        results.append(values)
    return tuple(results)
