"""``imageflow report``: confidence over time from SageMaker data capture."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from imageflow.report.aggregate import BinnedSummary, read_captures, summarise
from imageflow.report.exports import bin_rows, label_rows, summary, write_data_files
from imageflow.report.htmlreport import write_html
from imageflow.report.labels import DEFAULT_LABELS, parse_labels
from imageflow.report.sources import CaptureFile, SourceError, list_capture_files
from imageflow.report.timebins import default_bin, format_bin, format_span, parse_bin, parse_time

DEFAULT_THRESHOLD = 0.73

_EPILOG = """\
SOURCE is the data capture destination (or any folder below it): a local folder, a single
.jsonl file, or s3://bucket/prefix. Files are found recursively in SageMaker's layout
<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl; S3 access uses boto3's usual
configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 for a local S3).

Writes into DIR: report.html (self-contained), confidence.png, under_threshold.png,
labels.png, bins.csv, labels.csv and report.json. Malformed lines are skipped and counted.

examples:
  imageflow report .local/capture --out out/report
  imageflow report s3://my-bucket/datacapture --since 2026-11-01 --until 2026-12-01 --bin 1d --out out/nov
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="plot confidence over time from SageMaker data capture",
        description="Read SageMaker Model Monitor data capture and report the endpoint's confidence over "
        "time: mean confidence per time bin against the threshold, the share under the threshold, "
        "and counts per predicted label, as an HTML page, PNG plots, CSV and JSON.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="SOURCE", help="local folder or file, or s3://bucket/prefix")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="folder to write the report into")
    parser.add_argument(
        "--since", metavar="TIME", type=_checked(parse_time), help="first inference time (ISO 8601, UTC if no zone)"
    )
    parser.add_argument(
        "--until", metavar="TIME", type=_checked(parse_time), help="end of the window, exclusive (ISO 8601)"
    )
    parser.add_argument(
        "--bin", metavar="WIDTH", type=_checked(parse_bin),
        help="time bin width such as 5min, 1h, 1d (default: chosen from the data's span, at most ~60 bins)",
    )  # fmt: skip
    parser.add_argument(
        "--threshold", type=_checked(_parse_threshold), default=DEFAULT_THRESHOLD,
        help=f"confidence a result needs to pass (default {DEFAULT_THRESHOLD})",
    )  # fmt: skip
    parser.add_argument(
        "--labels", type=_checked(parse_labels), default=DEFAULT_LABELS,
        help="label names in output order, comma separated, or a label-map JSON file with a 'labels' list "
        f"(default {','.join(DEFAULT_LABELS)})",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", "-j", metavar="N", type=_checked(_parse_jobs), default=None,
        help="processes reading local files (default: one per available CPU; 1 reads in this process)",
    )  # fmt: skip
    parser.add_argument(
        "--mark", metavar="TIME=LABEL", type=_checked(parse_mark), action="append", default=[],
        help="mark an event on the time axis, e.g. a retraining: 2026-11-20T13:05Z='retrained (version 3)' "
        "(repeatable)",
    )  # fmt: skip
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def parse_mark(text: str) -> tuple[float, str]:
    """``TIME=LABEL`` -> (epoch seconds, label)."""
    moment, sep, label = text.partition("=")
    if not sep or not label.strip():
        raise ValueError(f"bad mark {text!r}: use TIME=LABEL, e.g. 2026-11-20T13:05Z=retrained")
    return parse_time(moment), label.strip()


def _checked(parse: Callable[[str], object]) -> Callable[[str], object]:
    """Turn a parser's ValueError into argparse's one-line usage error."""

    def wrapped(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    wrapped.__name__ = parse.__name__
    return wrapped


def _parse_threshold(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {text} is outside [0, 1]")
    return value


def _parse_jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"--jobs {text} must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    """Build the report; 0 on success, 2 when the source cannot be read."""
    if args.since is not None and args.until is not None and args.since >= args.until:
        print("imageflow report: error: --since must be before --until", file=sys.stderr)
        return 2
    try:
        # Listing first gives the progress bar its total and catches a wrong SOURCE early.
        files = list_capture_files(args.source, args.since, args.until)
        if not files:
            print(f"imageflow report: error: no capture files (*.jsonl) under {args.source}", file=sys.stderr)
            return 2
        with _progress(files, enabled=not args.quiet and sys.stderr.isatty()) as advance:
            stats = read_captures(
                args.source, args.labels, args.since, args.until, files=files, on_file=advance, workers=args.jobs
            )
    except (SourceError, OSError) as exc:
        print(f"imageflow report: error: {exc}", file=sys.stderr)
        return 2

    span = stats.time_range()
    bin_seconds = args.bin or (default_bin(*span) if span else 3600)
    binned = summarise(stats, bin_seconds, args.threshold)

    from imageflow.report.plots import write_plots  # matplotlib only once there is something to draw

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sources = [args.source]
    plots = write_plots(out, binned, marks=args.mark)
    write_data_files(out, stats, binned, sources)
    page = write_html(out, summary(stats, binned, sources), bin_rows(binned), label_rows(binned), plots)
    print(one_line_summary(stats.files, stats.skipped.total(), binned, page))
    return 0


def one_line_summary(files: int, skipped: int, b: BinnedSummary, page: Path) -> str:
    """``1,234 inferences 2026-11-20 13:00-18:00 UTC, mean confidence 0.81, 12.3% under ...``."""
    files_text = f"{files:,} file{'s' if files != 1 else ''}, {skipped:,} line{'s' if skipped != 1 else ''} skipped"
    if not b.total or b.first_time is None or b.last_time is None:
        return f"0 inferences; {files_text} → {page}"
    return (
        f"{b.total:,} inferences {format_span(b.first_time, b.last_time)}, "
        f"mean confidence {b.mean_overall:.2f}, "
        f"{b.under_total / b.total:.1%} under {b.threshold:g} threshold "
        f"({format_bin(b.bin_seconds)} bins); {files_text} → {page}"
    )


class _progress:
    """A rich progress bar over files when on a terminal; a no-op otherwise."""

    def __init__(self, files: list[CaptureFile], enabled: bool) -> None:
        self._files = files
        self._enabled = enabled
        self._bar = None

    def __enter__(self) -> Callable[[CaptureFile], None] | None:
        if not self._enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        # auto_refresh=False: rich's refresh thread would make this process multi-threaded, and
        # read_captures only forks worker processes from a single-threaded one. Redrawn instead
        # after finished files, at most ten times a second (a redraw costs about as much as
        # reading a small file).
        self._bar = Progress(
            "reading captures", BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True,
            auto_refresh=False,
        )  # fmt: skip
        self._bar.start()
        task = self._bar.add_task("read", total=sum(f.size for f in self._files))
        bar = self._bar

        next_redraw = 0.0

        def advance(item: CaptureFile) -> None:
            nonlocal next_redraw
            bar.advance(task, item.size)
            now = time.monotonic()
            if now >= next_redraw:
                next_redraw = now + 0.1
                bar.refresh()

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
