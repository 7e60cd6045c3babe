"""Per-image serving time of a trained version vs the zero-shot version, side by side in one run.

    .venv/bin/python benchmarks/serving_benchmark.py [--rounds 7] [--model DIR]

Both versions are loaded as an endpoint loads them (``load_model_dir``, default thread count) and classify
the same images (the sample photos and 40 CIFAR images, as bytes: decode, preprocess, graph) in alternating
rounds, so both see the same machine noise. Reports the median per-image time of each and their ratio, plus
the graph alone on a preprocessed batch. Target: the trained version within 10 % of zero-shot. Exits 1 above.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MAX_RATIO = 1.10


def images() -> list[bytes]:
    samples = sorted(p for p in (REPO / "samples").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    cifar = sorted((REPO / "datasets" / "cifar100-bicycle-motorcycle" / "train").glob("*.png"))[::25]
    return [p.read_bytes() for p in samples + cifar]


def per_image_ms(classifier, data: list[bytes]) -> float:
    started = time.perf_counter()
    for body in data:
        classifier.classify(body)
    return (time.perf_counter() - started) / len(data) * 1000


def graph_only_ms(classifier, batch) -> float:
    session = classifier._session  # the graph alone, no decoding
    started = time.perf_counter()
    for row in batch:
        session.run(None, {"image": row[None]})
    return (time.perf_counter() - started) / len(batch) * 1000


def main() -> int:
    import numpy as np

    from imageflow.endpoint.model import load_model_dir, preprocess
    from imageflow.registry.store import BUILTIN_DIR, SHIPPED_DEFAULT, ZERO_SHOT

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--model", type=Path, default=BUILTIN_DIR / SHIPPED_DEFAULT, help="trained version")
    args = parser.parse_args()
    models = {"zero-shot": load_model_dir(BUILTIN_DIR / ZERO_SHOT), "trained": load_model_dir(args.model)}
    data = images()
    batch = np.concatenate([preprocess(b) for b in data])
    for classifier in models.values():  # warm-up: first runs allocate
        per_image_ms(classifier, data[:5])
    times = {name: [] for name in models}
    graph = {name: [] for name in models}
    for round_ in range(args.rounds):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for name in order:
            times[name].append(per_image_ms(models[name], data))
            graph[name].append(graph_only_ms(models[name], batch))
    zs, tr = statistics.median(times["zero-shot"]), statistics.median(times["trained"])
    gzs, gtr = statistics.median(graph["zero-shot"]), statistics.median(graph["trained"])
    print(f"{len(data)} images x {args.rounds} alternating rounds (medians):")
    print(f"  bytes -> probabilities: zero-shot {zs:.2f} ms/image, trained {tr:.2f} ms/image: ratio {tr / zs:.3f}")
    print(f"  graph only:             zero-shot {gzs:.2f} ms/image, trained {gtr:.2f} ms/image: ratio {gtr / gzs:.3f}")
    ok = tr / zs <= MAX_RATIO
    print(f"target: trained within {MAX_RATIO - 1:.0%} of zero-shot: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
