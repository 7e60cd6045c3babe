"""Benchmark the data-capture report's reader against the original approach.

Generates a month of realistic capture files (every record carrying a base64 image) in
SageMaker's layout in a temporary folder, then runs, each in its own subprocess so that peak
memory is the child's own:

* original: every line through ``jsonlines`` into a list, a pandas DataFrame, mean per bin;
* ours: ``imageflow.report.read_captures`` + ``summarise`` (no plotting), at N records and at 2N
  (the same files reached through a second variant folder) to show memory does not grow;
* ours with plotting and the full report written, timed separately.

Prints a table and exits 1 when ours misses >= 5x throughput or <= 1/5 peak memory. When
ours reads with worker processes, its peak memory is the main process's plus, per worker, the
largest worker's peak (an upper bound: the kernel keeps only the largest of reaped children).

    python benchmarks/report_benchmark.py [--records 20000] [--input-kib 40] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENDPOINT = "imageflow-endpoint"
VARIANTS = ("AllTraffic", "Shadow")  # Shadow holds hard links to AllTraffic's files: 2N records
BIN = "6h"
BIN_SECONDS = 6 * 3600
THRESHOLD = 0.73
TARGET_SPEEDUP = 5.0
TARGET_MEMORY_RATIO = 1 / 5
START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = timedelta(days=30)


def generate(root: Path, records: int, input_kib: int, seed: int = 7) -> Path:
    """Write ``records`` captures over a month into ``root``; return the N-record variant folder."""
    rng = random.Random(seed)
    # Random bytes base64-encode like a compressed image; one pool sliced at random offsets
    # keeps generation fast while no two records carry the same input.
    raw_size = input_kib * 1024 * 3 // 4
    pool = os.urandom(raw_size * 2)
    times = sorted(START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds())) for _ in range(records))
    base = root / ENDPOINT / VARIANTS[0]
    current_hour = None
    handle = None
    try:
        for moment in times:
            hour = moment.replace(minute=0, second=0, microsecond=0)
            if hour != current_hour:
                if handle:
                    handle.close()
                folder = base / f"{hour:%Y/%m/%d/%H}"
                folder.mkdir(parents=True, exist_ok=True)
                handle = (folder / f"{hour:%M-%S}-000-{uuid.UUID(int=rng.getrandbits(128))}.jsonl").open("w")
                current_hour = hour
            offset = rng.randrange(raw_size)
            bicycle = rng.betavariate(2, 0.7) if rng.random() < 0.5 else rng.betavariate(0.7, 2)
            record = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "image/png",
                        "mode": "INPUT",
                        "data": base64.b64encode(pool[offset : offset + raw_size]).decode(),
                        "encoding": "BASE64",
                    },
                    "endpointOutput": {
                        "observedContentType": "application/json",
                        "mode": "OUTPUT",
                        "data": json.dumps([round(bicycle, 6), round(1 - bicycle, 6)]),
                        "encoding": "JSON",
                    },
                },
                "eventMetadata": {
                    "eventId": str(uuid.UUID(int=rng.getrandbits(128))),
                    "inferenceId": str(rng.getrandbits(32)),
                    "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                },
                "eventVersion": "0",
            }
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")  # type: ignore[union-attr]
    finally:
        if handle:
            handle.close()
    _link_tree(base, root / ENDPOINT / VARIANTS[1])
    return base


def _link_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*.jsonl"):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:  # no hard links on this filesystem
            shutil.copyfile(path, destination)


# --- children: each prints one JSON line {"seconds", "records", "means"} ---------------------


def child_original(source: str, accelerated: bool = False) -> dict:
    """The original project's approach: jsonlines -> list -> pandas -> resample mean.

    jsonlines silently switches to orjson when that is installed (it is, for our reader); the
    original project ran it on the standard library's json, so that is the baseline, and
    ``accelerated`` measures the orjson variant for reference.
    """
    import jsonlines
    import pandas as pd

    loads = None if accelerated else json.loads
    started = time.perf_counter()
    records = []
    for path in sorted(Path(source).rglob("*.jsonl")):
        with jsonlines.open(path, loads=loads) as reader:
            records.extend(reader)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime([r["eventMetadata"]["inferenceTime"] for r in records], utc=True),
            "confidence": [max(json.loads(r["captureData"]["endpointOutput"]["data"])) for r in records],
        }
    )
    means = frame.set_index("time")["confidence"].resample(BIN, origin="epoch").mean()
    seconds = time.perf_counter() - started
    result = {int(t.timestamp()): float(v) for t, v in means.items() if v == v}
    return {"seconds": seconds, "records": len(records), "means": result}


def child_ours(source: str, plot_out: str | None = None) -> dict:
    """Our reader and binning; with ``plot_out``, also the plots, CSV/JSON and HTML, timed apart."""
    import numpy as np

    from imageflow.report.aggregate import read_captures, summarise
    from imageflow.report.labels import DEFAULT_LABELS

    started = time.perf_counter()
    stats = read_captures(source, DEFAULT_LABELS)
    binned = summarise(stats, BIN_SECONDS, THRESHOLD)
    seconds = time.perf_counter() - started
    result = {
        int(t): float(v) for t, v in zip(binned.bin_starts, binned.mean_confidence, strict=True) if not np.isnan(v)
    }
    report: dict = {"seconds": seconds, "records": stats.inferences, "means": result, "workers": stats.workers}
    if stats.workers > 1:
        # The reader's worker processes have ended and been reaped; the kernel keeps only the
        # largest one's peak, so count that peak once per worker (an upper bound: pages they
        # share copy-on-write with this process are counted again in each).
        report["worker_rss_mib"] = stats.workers * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if plot_out:
        from imageflow.report.exports import bin_rows, label_rows, summary, write_data_files
        from imageflow.report.htmlreport import write_html
        from imageflow.report.plots import write_plots

        started = time.perf_counter()
        out = Path(plot_out)
        out.mkdir(parents=True, exist_ok=True)
        plots = write_plots(out, binned)
        write_data_files(out, stats, binned, [source])
        write_html(out, summary(stats, binned, [source]), bin_rows(binned), label_rows(binned), plots)
        report["plot_seconds"] = time.perf_counter() - started
    return report


def run_child(*args: str) -> tuple[dict, float, float]:
    """Run this script as a child; return its JSON result, wall seconds and peak RSS in MiB.

    The peak is the child's own plus, when it read with worker processes, theirs (summed).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=output)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all children).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode:
            raise SystemExit(f"child {args[0]} failed with exit code {process.returncode}")
        output.seek(0)
        result = json.loads(output.read().decode().strip().splitlines()[-1])
    peak = usage.ru_maxrss / 1024  # KiB on Linux; for wait4, the largest of the child and its workers
    if "worker_rss_mib" in result:
        peak = result["self_rss_mib"] + result["worker_rss_mib"]
    return result, wall, peak


def _means_match(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records to generate (default 20000)")
    parser.add_argument("--input-kib", type=int, default=40, help="base64 input size per record in KiB (default 40)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it (default: a temp dir)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, source, *rest = args.child
        if kind.startswith("original"):
            result = child_original(source, accelerated=kind == "original-orjson")
        else:
            result = child_ours(source, *rest)
        result["means"] = {str(k): v for k, v in result["means"].items()}
        result["self_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="report-benchmark-"))
    try:
        started = time.perf_counter()
        single = generate(workdir / "capture", args.records, args.input_kib)
        size = sum(p.stat().st_size for p in single.rglob("*.jsonl"))
        print(
            f"generated {args.records:,} records, {size / 2**20:,.0f} MiB in "
            f"{time.perf_counter() - started:.1f} s under {workdir}",
            flush=True,
        )
        original, original_wall, original_rss = run_child("original", str(single))
        fast, fast_wall, fast_rss = run_child("original-orjson", str(single))
        ours, ours_wall, ours_rss = run_child("ours", str(single))
        double, double_wall, double_rss = run_child("ours", str(workdir / "capture"))
        plotted, plotted_wall, plotted_rss = run_child("ours", str(single), str(workdir / "report"))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = [
        ("original (jsonlines+pandas)", original, original_wall, original_rss),
        ("  same, jsonlines on orjson", fast, fast_wall, fast_rss),
        ("ours, N", ours, ours_wall, ours_rss),
        ("ours, 2N", double, double_wall, double_rss),
        ("ours, N + plots/HTML", plotted, plotted_wall, plotted_rss),
    ]
    print(f"\n{'approach':<30}{'records':>10}{'work s':>9}{'records/s':>12}{'child wall s':>14}{'peak RSS MiB':>14}")
    for name, result, wall, rss in rows:
        rate = result["records"] / result["seconds"]
        print(f"{name:<30}{result['records']:>10,}{result['seconds']:>9.2f}{rate:>12,.0f}{wall:>14.2f}{rss:>14.1f}")
    print(f"{'  of which plots + HTML':<30}{'':>10}{plotted['plot_seconds']:>9.2f}")
    if ours.get("workers", 1) > 1:
        print(
            f"(ours read with {ours['workers']} worker processes; its peak RSS is the sum of the main "
            f"process's and {ours['workers']} x the largest worker's)"
        )

    speedup = (ours["records"] / ours["seconds"]) / (original["records"] / original["seconds"])
    memory_ratio = ours_rss / original_rss
    growth = double_rss - ours_rss
    fast_speedup = (ours["records"] / ours["seconds"]) / (fast["records"] / fast["seconds"])
    same = _means_match(original["means"], ours["means"])
    print(
        f"\nthroughput ours/original: {speedup:.1f}x (target >= {TARGET_SPEEDUP:g}x); "
        f"vs jsonlines on orjson: {fast_speedup:.1f}x\n"
        f"peak RSS ours/original: 1/{1 / memory_ratio:.1f} (target <= 1/{1 / TARGET_MEMORY_RATIO:g})\n"
        f"peak RSS growth N -> 2N: {growth:+.1f} MiB\n"
        f"per-bin means identical to the original's: {'yes' if same else 'NO'}"
    )
    ok = speedup >= TARGET_SPEEDUP and memory_ratio <= TARGET_MEMORY_RATIO and same
    print("PASS" if ok else "FAIL: targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
