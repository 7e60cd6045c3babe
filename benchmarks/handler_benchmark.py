"""What each Lambda handler costs per image, measured here: the inputs of the cost model.

    .venv/bin/python benchmarks/handler_benchmark.py [--images 300] [--out pricing/measured.json]

Runs the images (the bundled CIFAR-100 split and the sample photos, cycled) through the local per-image
workflow, one execution at a time so that no handler's time includes another's, with each handler wrapped:
its wall time per call (mean, p50, p95) and its peak Python allocation per call (tracemalloc). The memory a
handler's process needs is that peak plus the resident size of a fresh Python that imports only the handler
(and what it imports: the layer's packages and boto3), measured in a child process. Classify's time includes
the local model's inference, standing in for the wait on the SageMaker endpoint. The model alone (bytes to
probabilities) is timed too, on one thread: the endpoint's busy time per image. Writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "datasets" / "cifar100-bicycle-motorcycle" / "train"
SAMPLES = REPO / "samples"
HANDLERS = {"serialize": "handlers.serialize", "classify": "handlers.classify", "threshold": "handlers.threshold"}


def images(count: int) -> list[bytes]:
    files = sorted(DATASET.glob("*.png"))[:200] + sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    return [files[i % len(files)].read_bytes() for i in range(count)]


def import_rss_mb(module: str) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child would report its parent's
    code = (
        f"import {module}, pathlib; "
        "print(next(l.split()[1] for l in pathlib.Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmHWM:')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def timed(name: str, handler: Any, samples: dict[str, list[tuple[float, int]]]) -> Any:
    def wrapper(event: Any, context: Any) -> Any:
        tracemalloc.reset_peak()
        start_size, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            samples[name].append((elapsed, peak - start_size))

    wrapper.__wrapped__ = handler  # keeps the metrics provider visible (one event at a time, as registered)
    return wrapper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "pricing" / "measured.json")
    args = parser.parse_args()

    import importlib

    from imageflow.endpoint.service import LocalEndpoint
    from imageflow.registry.resolve import load_served_classifier
    from imageflow.runner.workflow import LocalWorkflow

    classifier = load_served_classifier(None)
    data = images(args.images)
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in HANDLERS}
    handlers = {
        name: timed(name, importlib.import_module(module).handler, samples) for name, module in HANDLERS.items()
    }
    tracemalloc.start()
    endpoint = LocalEndpoint(classifier, endpoint_name="image-classifier-local")
    with LocalWorkflow(endpoint, labels=classifier.labels, handlers=handlers) as workflow:
        for index in range(5):  # warm-up: imports, first parse, first client
            workflow.put_image(f"warm/{index}.png", data[index])
            workflow.run({"s3_bucket": workflow.bucket, "s3_key": f"warm/{index}.png"}, name=f"warm-{index}")
        for values in samples.values():
            values.clear()
        for index, image in enumerate(data):
            key = f"bench/{index:05d}.png"
            workflow.put_image(key, image)
            result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": key}, name=f"bench-{index}")
            workflow.forget(result.arn)
    tracemalloc.stop()
    model_times = []
    for image in data[:100]:
        started = time.perf_counter()
        classifier.classify(image)
        model_times.append(time.perf_counter() - started)

    report: dict[str, Any] = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "benchmarks/handler_benchmark.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        "images": args.images,
        "image_bytes_mean": round(statistics.mean(len(d) for d in data)),
        "model_seconds_mean": round(statistics.mean(model_times), 5),
        "handlers": {},
    }
    for name, values in samples.items():
        times = sorted(t for t, _ in values)
        peak = max(p for _, p in values) / 2**20
        rss = import_rss_mb(HANDLERS[name])
        report["handlers"][name] = {
            "calls": len(times),
            "seconds_mean": round(statistics.mean(times), 5),
            "seconds_p50": round(times[len(times) // 2], 5),
            "seconds_p95": round(times[int(len(times) * 0.95)], 5),
            "import_rss_mb": round(rss, 1),
            "peak_call_mb": round(peak, 1),
            "memory_needed_mb": round(rss + peak, 1),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
