"""A local batch of 1,000 and 10,000 images through ``imageflow run`` (classifyBatch on moto in-process):
time, throughput, peak memory, exact reconciliation; and the bare model at the same concurrency.

    .venv/bin/python benchmarks/batch_benchmark.py [--sizes 1000 10000] [--concurrency 4] [--bare-images 2000]

The images are generated from the bundled CIFAR-100 training split and the sample photos, cycled, with
awkward names mixed in (spaces, ``+``, ``%``, unicode, deep folders) and a few bad files (every 997th
truncated, every 1,999th a text file, every 4,999th empty). Each size runs in a fresh child process
(`imageflow run FOLDER`, in-process, the CLI's defaults), whose peak RSS is read with ``wait4``. The run
must reconcile exactly: one results line per file, each bad file with its error name, every other file
passed or low confidence. The bare model (``ImageClassifier.classify`` on the same bytes) runs from the same
number of threads, in this process, after the children. Exits 1 if a run does not reconcile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "datasets" / "cifar100-bicycle-motorcycle" / "train"
SAMPLES = REPO / "samples"
NAME_STYLES = ("img {n}.png", "c++ {n}+1.png", "100% {n}.png", "ünïcödé 写真 {n}.png", "a/b/c/deep {n}.png")
EXPECTED_ERRORS = {"truncated": "CorruptImageError", "text": "NotAnImageError", "empty": "EmptyImageError"}


def sources() -> list[Path]:
    images = sorted(DATASET.glob("*.png")) + sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    if not images:
        raise SystemExit(f"no images under {DATASET}")
    return images


def kind_of(index: int) -> str:
    if index % 4999 == 4998:
        return "empty"
    if index % 1999 == 1998:
        return "text"
    if index % 997 == 996:
        return "truncated"
    return "image"


def generate(folder: Path, count: int) -> dict[str, str]:
    """Write ``count`` files; return relative path -> kind."""
    files = sources()
    kinds: dict[str, str] = {}
    for index in range(count):
        source = files[index % len(files)]
        style = NAME_STYLES[index % len(NAME_STYLES)] if index % 3 == 0 else "{n}" + source.suffix
        relative = style.format(n=f"{index:05d}")
        kind = kind_of(index)
        data = source.read_bytes()
        if kind == "truncated":
            data = data[: max(200, len(data) // 3)]
        elif kind == "text":
            relative, data = relative.rsplit(".", 1)[0] + ".txt", b"a note, not an image\n"
        elif kind == "empty":
            data = b""
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        kinds[relative] = kind
    return kinds


def child(folder: str, results: str, concurrency: int) -> None:
    """Run in a fresh process: `imageflow run FOLDER` as a user would, then print the time taken."""
    from imageflow.cli import main

    started = time.perf_counter()
    code = main(["run", folder, "--results", results, "--out", str(Path(results).parent), "-q", "--table-rows", "0",
                 "--concurrency", str(concurrency)])  # fmt: skip
    print(json.dumps({"seconds": time.perf_counter() - started, "code": code}))


def measure(count: int, concurrency: int, work: Path) -> dict[str, object]:
    folder = work / f"images-{count}"
    kinds = generate(folder, count)
    results = work / f"out-{count}" / "results.jsonl"
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(folder), str(results), "--concurrency", str(concurrency)],
        cwd=REPO,
        # the run's review queue goes to the work folder: a benchmark must not fill the user's queue
        env={**os.environ, "IMAGEFLOW_REVIEW": str(work / f"review-{count}")},
        stdout=subprocess.PIPE,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    report = json.loads(output.strip().splitlines()[-1])
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    by_file = Counter(str(Path(line["source"]).relative_to(folder)) for line in lines)
    problems = []
    if os.waitstatus_to_exitcode(status) != 0 or report["code"] != 0:
        problems.append(f"exit status {os.waitstatus_to_exitcode(status)}/{report['code']}")
    if len(lines) != count or set(by_file) != set(kinds) or max(by_file.values()) != 1:
        problems.append(f"{len(lines)} results for {count} files ({len(set(by_file) ^ set(kinds))} unmatched)")
    outcomes: Counter[str] = Counter()
    for line in lines:
        kind = kinds.get(str(Path(line["source"]).relative_to(folder)), "?")
        outcomes[line["outcome"] if line["outcome"] != "error" else f"error:{line['error']}"] += 1
        expected = EXPECTED_ERRORS.get(kind)
        if expected and (line["outcome"], line["error"]) != ("error", expected):
            problems.append(f"{line['source']}: {line['outcome']} {line['error']}, expected {expected}")
        if not expected and line["outcome"] not in ("passed", "low_confidence"):
            problems.append(f"{line['source']}: {line['outcome']} {line['error']}")
    return {
        "images": count,
        "seconds": round(report["seconds"], 1),
        "images_per_second": round(count / report["seconds"], 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "outcomes": dict(sorted(outcomes.items())),
        "reconciled": not problems,
        "problems": problems[:10],
    }


def bare(images: int, concurrency: int) -> float:
    from imageflow.registry.resolve import load_served_classifier

    classifier = load_served_classifier(None)
    data = [path.read_bytes() for path in sources()]
    classifier.classify(data[0])  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: classifier.classify(data[i % len(data)]), range(images)))
    return images / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--bare-images", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "RESULTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.concurrency)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="batch-benchmark-") as work:
        for size in args.sizes:
            rows.append(measure(size, args.concurrency, Path(work)))
            print(json.dumps(rows[-1]), flush=True)
    bare_rate = bare(args.bare_images, args.concurrency)
    load = os.getloadavg()
    print(f"\nconcurrency {args.concurrency}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("| images | time | images/s | vs bare model | peak RSS | reconciled |")
    print("|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ratio = row["images_per_second"] / bare_rate
        print(f"| {row['images']:,} | {row['seconds']} s | {row['images_per_second']} | {ratio:.2f} | "
              f"{row['peak_rss_mb']} MB | {'yes' if row['reconciled'] else 'NO'} |")  # fmt: skip
    print(f"bare model, {args.concurrency} threads, {args.bare_images} images: {bare_rate:.1f} images/s")
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        print(f"peak RSS {rows[-1]['images']:,} vs {rows[0]['images']:,} images: {growth:.2f}x")
    return 0 if all(row["reconciled"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
