"""Throughput of the whole local workflow vs the bare model, and peak memory of long runs.

    .venv/bin/python benchmarks/workflow_benchmark.py [--images 220] [--rounds 3] [--concurrency 4]

Throughput, like against like: the sample images cycled to N are classified three ways, in
interleaved rounds in one process so that all three see the same machine noise:

* bare, sequential: ``ImageClassifier.classify`` (bytes in, probabilities out), one at a time;
* bare, concurrent: the same calls from ``--concurrency`` threads at once (decoding overlaps
  inference on the other core, as it does inside the workflow);
* workflow: the local workflow at the same concurrency (upload, Serialize -> Classify ->
  Threshold on moto's interpreter, data capture on).

The baseline is the better of the two bare figures; the ratio is the workflow against it. Each
measure's CPU time per image (all threads) is printed too: once both cores are busy, throughput
is about 2,000 / (CPU ms per image), so the CPU figures say where a gap in the ratio comes from.
Then the orchestration alone, after the rounds: the same workflow (upload, moto's interpreter, the
Lambda bridge, results) with handlers that return at once, doing no S3 read, no endpoint call and
no inference. The workflow's CPU per image splits into the model's (bare, threads), the orchestration's,
and the rest: what the handlers and bridges do with the image bytes (reads, checks, copies, capture).
With the cores saturated, model and orchestration alone bound the ratio at bare / (bare + orchestration)
CPU per image, which the script prints as a ceiling. Then the workflow on the samples that pass and on
those that end low confidence, apart: a low-confidence image also runs the review states (three S3 tasks)
and its move to the queue folder.
Memory: peak RSS of separate child processes running 100 and 1,000 images. Exits 1 when the
ratio is below 0.77 or the 1,000-image run's peak RSS exceeds the 100-image run's by more
than 25%.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
MIN_RATIO = 0.77
MAX_RSS_GROWTH = 1.25


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def run_workflow(count: int, concurrency: int, workflow, tag: str, files: list[Path] | None = None) -> float:
    from imageflow.runner.batch import run_batch
    from imageflow.runner.inputs import ImageInput
    from imageflow.runner.targets import LocalTarget

    files = files or sample_files()
    inputs = [ImageInput(str(files[i % len(files)]), path=files[i % len(files)]) for i in range(count)]
    outcomes = 0

    def on_outcome(index: int, outcome) -> None:
        nonlocal outcomes
        outcomes += 1
        assert outcome.outcome != "error", outcome  # the samples are all images

    started = time.perf_counter()
    run_batch(LocalTarget(workflow, tag), inputs, tag, on_outcome, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert outcomes == count
    return count / elapsed


# Handlers for the orchestration-only measure: each returns what the next state expects, doing no work.
def _serialize_no_work(event, context):
    body = {"s3_bucket": event["s3_bucket"], "s3_key": event["s3_key"], "content_type": "image/png", "image_size": 1}
    return {"statusCode": 200, "body": {**body, "image_data": ""}}


def _classify_no_work(event, context):
    body = {k: v for k, v in event["body"].items() if k != "image_data"}
    return {"statusCode": 200, "body": {**body, "inferences": [0.1, 0.9], "label": "motorcycle", "confidence": 0.9}}


def _threshold_no_work(event, context):
    return {"statusCode": 200, "body": event["body"]}


NO_WORK_HANDLERS = {"serialize": _serialize_no_work, "classify": _classify_no_work, "threshold": _threshold_no_work}


@contextlib.contextmanager
def open_workflow(handlers=None) -> Iterator[tuple]:
    """(classifier, workflow): the local workflow (its endpoint, capture and review queue in a temporary folder)."""
    from imageflow.endpoint.model import ImageClassifier
    from imageflow.endpoint.service import LocalEndpoint
    from imageflow.review.queue import ReviewQueue
    from imageflow.runner.local_capture import attach_local_capture
    from imageflow.runner.workflow import LocalWorkflow

    classifier = ImageClassifier.from_files()
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        endpoint = LocalEndpoint(classifier)
        stack.callback(endpoint.close)
        review_queue = ReviewQueue(Path(scratch) / "review")  # low-confidence copies leave memory, as in a run
        workflow = stack.enter_context(LocalWorkflow(endpoint, handlers=handlers, review_queue=review_queue))
        attach_local_capture(endpoint, Path(scratch) / "capture")
        yield classifier, workflow


def run_bare(classifier, data: list[bytes], count: int, concurrency: int) -> float:
    """Images per second of ``classifier.classify`` alone, from ``concurrency`` threads (1: a plain loop)."""
    started = time.perf_counter()
    if concurrency == 1:
        for i in range(count):
            classifier.classify(data[i % len(data)])
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            # list(): consume the results so that an exception in any call surfaces here
            list(pool.map(lambda i: classifier.classify(data[i % len(data)]), range(count)))
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class Throughput:
    bare_sequential: float
    bare_concurrent: float
    workflow: float
    # CPU milliseconds per image (all threads of the process): where the throughput gap comes from when
    # the cores are saturated
    cpu_ms: dict[str, float]

    @property
    def best_bare(self) -> float:
        return max(self.bare_sequential, self.bare_concurrent)

    @property
    def ratio(self) -> float:
        return self.workflow / self.best_bare


def throughput(images: int, rounds: int, concurrency: int) -> Throughput:
    data = [p.read_bytes() for p in sample_files()]
    # seconds spent per measure, summed over rounds: the figures are total images / total time
    spent = {"sequential": 0.0, "concurrent": 0.0, "workflow": 0.0}
    cpu = dict.fromkeys(spent, 0.0)
    with open_workflow() as (classifier, workflow):
        run_workflow(22, concurrency, workflow, "warmup")  # imports, first parse
        run_bare(classifier, data, len(data), concurrency)
        for round_number in range(rounds):
            # rotate the order so that no measure always runs first (or last) in a round
            measures = [
                ("sequential", lambda: run_bare(classifier, data, images, 1)),
                ("concurrent", lambda: run_bare(classifier, data, images, concurrency)),
                ("workflow", lambda n=round_number: run_workflow(images, concurrency, workflow, f"r{n}")),
            ]
            shift = round_number % len(measures)
            for name, measure in measures[shift:] + measures[:shift]:
                cpu_before = time.process_time()
                spent[name] += images / measure()
                cpu[name] += time.process_time() - cpu_before
    total = images * rounds
    cpu_ms = {name: seconds * 1000 / total for name, seconds in cpu.items()}
    return Throughput(total / spent["sequential"], total / spent["concurrent"], total / spent["workflow"], cpu_ms)


def orchestration_only(images: int, concurrency: int) -> tuple[float, float]:
    """Images per second and CPU ms per image of the workflow with handlers that do no work."""
    with open_workflow(NO_WORK_HANDLERS) as (_, workflow):
        run_workflow(22, concurrency, workflow, "warmup")
        cpu_before = time.process_time()
        rate = run_workflow(images, concurrency, workflow, "orchestration")
        return rate, (time.process_time() - cpu_before) * 1000 / images


def by_outcome(images: int, concurrency: int) -> dict[str, tuple[int, float, float, float]]:
    """The workflow on the samples that pass and on those that go to review, apart, beside the bare model.

    {outcome: (sample count, workflow images per second, workflow CPU ms per image, bare model CPU ms per
    image from ``concurrency`` threads)}. A low-confidence image also runs the review states (three S3
    tasks) and its move to the queue folder; workflow minus bare CPU, per outcome, says what that costs.
    """
    from handlers.common.config import DEFAULT_THRESHOLD

    figures = {}
    with open_workflow() as (classifier, workflow):
        passes = {path: max(classifier.classify(path.read_bytes())) >= DEFAULT_THRESHOLD for path in sample_files()}
        run_workflow(22, concurrency, workflow, "warmup-outcomes")
        for outcome, passed in (("passed", True), ("low confidence", False)):
            files = [path for path, passing in passes.items() if passing is passed]
            if not files:
                continue
            cpu_before = time.process_time()
            rate = run_workflow(images, concurrency, workflow, outcome.replace(" ", "-"), files)
            workflow_cpu = (time.process_time() - cpu_before) * 1000 / images
            cpu_before = time.process_time()
            run_bare(classifier, [path.read_bytes() for path in files], images, concurrency)
            bare_cpu = (time.process_time() - cpu_before) * 1000 / images
            figures[outcome] = (len(files), rate, workflow_cpu, bare_cpu)
    return figures


def child_peak_rss_mb(images: int, concurrency: int) -> float:
    """Run ``images`` through the workflow in a fresh process; its peak RSS in MB."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(images), "--concurrency", str(concurrency)], cwd=REPO
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child run of {images} images failed")
    return usage.ru_maxrss / 1024  # Linux reports KiB


def child(images: int, concurrency: int) -> None:
    with open_workflow() as (_, workflow):
        run_workflow(images, concurrency, workflow, "memory")


def main() -> int:
    warnings.simplefilter("ignore")  # powertools warns about empty metric sets
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=220, help="images per throughput round (default 220)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="executions in flight (default 4)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.concurrency)
        return 0

    from rich.console import Console
    from rich.table import Table

    measured = throughput(args.images, args.rounds, args.concurrency)
    floor_rate, floor_cpu = orchestration_only(args.images * args.rounds, args.concurrency)
    data_path_cpu = measured.cpu_ms["workflow"] - measured.cpu_ms["concurrent"] - floor_cpu
    # with the cores saturated, throughput is about cores / CPU per image: even handlers that added nothing
    # to the model's work would leave the workflow this fraction of the bare model
    ceiling = measured.cpu_ms["concurrent"] / (measured.cpu_ms["concurrent"] + floor_cpu)
    split = by_outcome(args.images, args.concurrency)
    rss_100 = child_peak_rss_mb(100, args.concurrency)
    rss_1000 = child_peak_rss_mb(1000, args.concurrency)
    ratio = measured.ratio
    title = f"workflow benchmark ({args.images} images x {args.rounds} rounds, concurrency {args.concurrency})"
    table = Table(title=title)
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row("bare model, sequential (img/s)", f"{measured.bare_sequential:.1f}", "")
    table.add_row(f"bare model, {args.concurrency} threads (img/s)", f"{measured.bare_concurrent:.1f}", "")
    table.add_row(f"local workflow, {args.concurrency} executions (img/s)", f"{measured.workflow:.1f}", "")
    table.add_row("ratio to the better bare figure", f"{ratio:.2f}", f">= {MIN_RATIO}")
    for name, label in (("sequential", "bare, sequential"), ("concurrent", "bare, threads"), ("workflow", "workflow")):
        table.add_row(f"CPU per image, {label} (ms)", f"{measured.cpu_ms[name]:.1f}", "")
    floor_label = f"orchestration only: handlers that do no work, {args.concurrency} executions (img/s)"
    table.add_row(floor_label, f"{floor_rate:.1f}", "")
    table.add_row("CPU per image, orchestration only (ms)", f"{floor_cpu:.1f}", "")
    data_path_label = "CPU per image, the handlers' data path (workflow - bare threads - orchestration) (ms)"
    table.add_row(data_path_label, f"{data_path_cpu:.1f}", "")
    ceiling_label = "ratio ceiling if the handlers added no work: bare CPU / (bare + orchestration CPU)"
    table.add_row(ceiling_label, f"{ceiling:.2f}", f">= {MIN_RATIO}")
    for outcome, (samples, rate, cpu_ms, bare_cpu_ms) in split.items():
        label = f"the {samples} samples that end {outcome}: workflow img/s; CPU ms per image, workflow and bare"
        table.add_row(label, f"{rate:.1f}; {cpu_ms:.1f}, {bare_cpu_ms:.1f}", "")
    table.add_row("peak RSS, 100 images (MB)", f"{rss_100:.0f}", "")
    table.add_row("peak RSS, 1,000 images (MB)", f"{rss_1000:.0f}", f"<= {MAX_RSS_GROWTH:.2f} x 100-image run")
    Console().print(table)
    failed = []
    if ratio < MIN_RATIO:
        failed.append(f"throughput ratio {ratio:.2f} < {MIN_RATIO}")
    if rss_1000 > rss_100 * MAX_RSS_GROWTH:
        failed.append(f"peak RSS grew from {rss_100:.0f} MB to {rss_1000:.0f} MB")
    for message in failed:
        print(f"FAIL: {message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
