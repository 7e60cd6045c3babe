"""Training time on the 1,000 bundled images, end to end, and where the time goes.

    .venv/bin/python benchmarks/training_benchmark.py [--runs 1]

Runs `imageflow train datasets/cifar100-bicycle-motorcycle --out TMP --no-register -q` as a separate process
(so the figure includes start-up and imports) and reads the per-phase breakdown from the version's
metadata.json. Also prints the validation figures before and after calibration. Target: <= 60 s end to end
on the project's 2-core machine. Exits 1 above it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "datasets" / "cifar100-bicycle-motorcycle"
TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    imageflow = Path(sys.executable).parent / "imageflow"
    worst = 0.0
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "version"
            load = os.getloadavg()[0]
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [str(imageflow), "train", str(DATA), "--out", str(out), "--no-register", "-q"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
            metadata = json.loads((out / "metadata.json").read_text())
        worst = max(worst, wall)
        timings = metadata["timings_seconds"]
        counts = metadata["data"]["counts"]
        images = sum(counts["train"].values()) + sum(counts["validation"].values())
        negatives = metadata["data"]["negatives"]["train"] + metadata["data"]["negatives"]["validation"]
        print(
            f"run {run + 1}: {wall:.1f} s end to end, {cpu:.1f} s of CPU (load average {load:.1f} at start; "
            f"{images} labelled + {negatives} open-set negative images)"
        )
        inside = timings["total"]
        print(f"  process start, imports, CLI and summary: {wall - inside:5.1f} s")
        for phase, seconds in timings.items():
            if phase != "total":
                print(f"  {phase:39s} {seconds:5.1f} s  ({seconds / wall:4.0%})")
        validation = metadata["metrics"]["validation"]
        for name in ("before_calibration", "after_calibration"):
            v = validation[name]
            print(
                f"  validation {name.replace('_', ' '):19s}: accuracy {v['accuracy']:.3f}, pass@0.73 "
                f"{v['pass_share']:.3f}, accuracy among passed {v['accuracy_among_passed']:.3f}, ECE {v['ece']:.3f}"
            )
        print(
            f"  temperature {metadata['calibration']['temperature']:.3f}; open-set negatives held out: "
            f"{metadata['metrics']['open_set_negatives_validation']['pass_share']:.3f} pass"
        )
    print(
        f"slowest run {worst:.1f} s; target <= {TARGET_SECONDS:.0f} s: {'met' if worst <= TARGET_SECONDS else 'MISSED'}"
    )
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
