"""Stand-in for human labellers: answer a Ground Truth input manifest with an output manifest from known labels.

    python -m imageflow.review.stand_in_labeller MANIFEST --labels-from DATA --out OUTPUT [--job NAME]

``DATA`` is a labelled dataset (lst layout, or a folder per class): each ``source-ref`` is matched to the
image whose file name it ends with (``imageflow run`` keeps the file name at the end of every key). The
output has Ground Truth's image-classification shape: the job's label attribute (the class index) and
``<job>-metadata`` (``class-name``, ``confidence``, ``human-annotated``, ``type``, ``job-name``,
``creation-date``). Used by the loop demo and the tests, never by the import itself.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from imageflow.review.groundtruth import CLASSIFICATION_TYPE


def known_labels(data: Path, labels: tuple[str, ...]) -> dict[str, str]:
    """file name -> label name of every image in a dataset."""
    from imageflow.training.data import load_dataset

    dataset = load_dataset(data, labels if (data / "train_lst").is_dir() else None, for_training=False)
    examples = [*dataset.train, *dataset.validation]
    return {e.path.name: dataset.labels[e.label] for e in examples}


def label_for(source_ref: str, names: dict[str, str]) -> str | None:
    base = source_ref.rsplit("/", 1)[-1]
    if base in names:
        return names[base]
    matches = [label for name, label in names.items() if base.endswith("-" + name)]
    return matches[0] if len(matches) == 1 else None


def output_manifest(manifest: Path, names: dict[str, str], labels: tuple[str, ...], job: str) -> tuple[str, int]:
    """The output manifest's text and how many lines had no known label (left out)."""
    lines, unknown = [], 0
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    for raw in manifest.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        label = label_for(item["source-ref"], names)
        if label is None:
            unknown += 1
            continue
        item[job] = labels.index(label)
        item[f"{job}-metadata"] = {
            "class-name": label,
            "confidence": 0.95,
            "human-annotated": "yes",
            "type": CLASSIFICATION_TYPE,
            "job-name": f"labeling-job/{job}",
            "creation-date": created,
        }
        lines.append(json.dumps(item) + "\n")
    return "".join(lines), unknown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--labels-from", type=Path, required=True, metavar="DATA")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--job", default="imageflow-review")
    parser.add_argument("--labels", default="bicycle,motorcycle")
    args = parser.parse_args(argv)
    labels = tuple(args.labels.split(","))
    text, unknown = output_manifest(args.manifest, known_labels(args.labels_from, labels), labels, args.job)
    args.out.write_text(text, encoding="utf-8")
    print(f"{text.count(chr(10))} labelled line(s) written to {args.out}; {unknown} without a known label")
    return 0 if not unknown else 1


if __name__ == "__main__":
    raise SystemExit(main())
