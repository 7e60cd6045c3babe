"""``evaluate``: score model versions on labelled images and write an HTML + JSON report with plots.

Every image of DATA (train and validation channels alike) goes through each version's served graph, exactly
as an endpoint would run it. The report holds, per version: accuracy, per-class precision and recall, the
confusion matrix, the share of images passing the threshold and the accuracy among them, a reliability
diagram with the ECE, and the worst mistakes (most confident wrong answers) as thumbnails. A baseline version
is scored on the same images and shown beside it.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imageflow.training.data import Example, load_dataset
from imageflow.training.metrics import (
    DEFAULT_THRESHOLD,
    confusion_matrix,
    per_class,
    reliability_bins,
    score,
)

WORST_MISTAKES = 12
THUMBNAIL = 96


class EvaluationError(ValueError):
    """The versions cannot be compared (different labels) or the data does not fit them."""


def _version_name(directory: Path) -> str:
    from imageflow.training.versiondir import read_metadata

    try:
        return str(read_metadata(directory).get("version") or directory.name)
    except Exception:  # a version without metadata still evaluates
        return directory.name


def score_version(
    directory: Path,
    examples: Sequence[Example],
    labels: Sequence[str],
    threshold: float,
    threads: int | None,
    on_image: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One version's figures on the examples, plus its probabilities for the mistakes table."""
    from imageflow.endpoint.model import load_model_dir

    classifier = load_model_dir(directory, threads=threads)
    if tuple(classifier.labels) != tuple(labels):
        raise EvaluationError(f"{directory} has labels {list(classifier.labels)}, the data {list(labels)}")
    rows = []
    for example in examples:
        rows.append(classifier.classify(example.path.read_bytes()))
        if on_image is not None:
            on_image()
    probabilities = np.array(rows, dtype=np.float64).reshape(len(examples), len(labels))
    truth = np.array([e.label for e in examples], dtype=np.int64)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    matrix = confusion_matrix(predicted, truth, len(labels))
    wrong = np.flatnonzero(predicted != truth)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:WORST_MISTAKES]
    return {
        "name": _version_name(directory),
        "directory": str(directory),
        "scores": score(probabilities, truth, threshold).as_dict(),
        "per_class": per_class(matrix, labels),
        "confusion_matrix": matrix.tolist(),
        "reliability": reliability_bins(confidence, predicted == truth),
        "worst_mistakes": [
            {
                "image": examples[i].origin,
                "path": str(examples[i].path),
                "truth": labels[truth[i]],
                "predicted": labels[predicted[i]],
                "confidence": float(confidence[i]),
                "probabilities": probabilities[i].round(4).tolist(),
            }
            for i in worst
        ],
        "_probabilities": probabilities,
    }


def evaluate_versions(
    model: Path,
    data: Path,
    out: Path,
    *,
    baseline: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    labels: Sequence[str] | None = None,
    threads: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Score ``model`` (and ``baseline``) on every image of ``data``; write report.html/json and plots."""
    from imageflow.endpoint.model import read_version_labels

    version_labels = read_version_labels(model)
    dataset = load_dataset(data, labels or version_labels, for_training=False)
    examples = [*dataset.train, *dataset.validation]
    directories = [model] if baseline is None else [model, baseline]
    total = len(examples) * len(directories)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("classifying", done, total)

    entries = [score_version(d, examples, dataset.labels, threshold, threads, tick) for d in directories]
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(entries, dataset.labels, out)
    report = {
        "data": {"source": str(data), "images": len(examples), "counts": _counts(examples, dataset.labels)},
        "labels": list(dataset.labels),
        "threshold": threshold,
        "versions": [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries],
        "plots": {k: v.name for k, v in plots.items()},
        "paths": {"html": str(out / "report.html"), "json": str(out / "report.json")},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    (out / "report.html").write_text(_html(report, plots), encoding="utf-8")
    return report


def _counts(examples: Sequence[Example], labels: Sequence[str]) -> dict[str, int]:
    return {name: sum(1 for e in examples if e.label == i) for i, name in enumerate(labels)}


# -- plots ------------------------------------------------------------------------------------------


def _plots(entries: Sequence[dict[str, Any]], labels: Sequence[str], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: dict[str, Path] = {}
    fig, axes = plt.subplots(1, len(entries), figsize=(4.2 * len(entries), 3.8), squeeze=False)
    for ax, entry in zip(axes[0], entries, strict=False):
        matrix = np.array(entry["confusion_matrix"])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", color="black" if value < matrix.max() / 2 else "white")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(entry["name"], fontsize=9)
    fig.tight_layout()
    paths["confusion"] = out / "confusion.png"
    fig.savefig(paths["confusion"], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for entry in entries:
        bins = [b for b in entry["reliability"] if b["count"]]
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            label=f"{entry['name']} (ECE {entry['scores']['ece']:.3f})",
        )
    ax.axvline(entries[0]["scores"]["threshold"], color="red", linewidth=1, alpha=0.5, label="threshold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (best probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability diagram")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    paths["reliability"] = out / "reliability.png"
    fig.savefig(paths["reliability"], dpi=100)
    plt.close(fig)
    return paths


# -- HTML -------------------------------------------------------------------------------------------


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _thumbnail(path: str) -> str:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if max(img.size) > THUMBNAIL:
            img.thumbnail((THUMBNAIL, THUMBNAIL))
        elif max(img.size) < THUMBNAIL:  # CIFAR's 32x32: enlarge so a person can see it
            scale = THUMBNAIL // max(img.size)
            img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _f(value: object) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.3f}"  # type: ignore[arg-type]


def _html(report: dict[str, Any], plots: dict[str, Path]) -> str:
    e = html.escape
    versions = report["versions"]
    summary_rows = "".join(
        f"<tr><td>{e(v['name'])}</td><td>{_f(v['scores']['accuracy'])}</td><td>{_f(v['scores']['pass_share'])}</td>"
        f"<td>{_f(v['scores']['accuracy_among_passed'])}</td><td>{_f(v['scores']['ece'])}</td></tr>"
        for v in versions
    )
    class_rows = "".join(
        f"<tr><td>{e(v['name'])}</td><td>{e(label)}</td><td>{_f(c['precision'])}</td><td>{_f(c['recall'])}</td>"
        f"<td>{c['support']}</td></tr>"
        for v in versions
        for label, c in v["per_class"].items()
    )
    mistakes = []
    for v in versions:
        cells = "".join(
            f'<figure><img src="{_thumbnail(m["path"])}" alt="{e(m["image"])}" width="{THUMBNAIL}">'
            f"<figcaption>{e(m['image'])}<br>true {e(m['truth'])}, said {e(m['predicted'])} "
            f"{m['confidence']:.2f}</figcaption></figure>"
            for m in v["worst_mistakes"]
        )
        mistakes.append(f'<h3>{e(v["name"])}</h3><div class="mistakes">{cells or "<p>no mistakes</p>"}</div>')
    counts = ", ".join(f"{e(k)} {n}" for k, n in report["data"]["counts"].items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: .3em .7em; }}
th {{ background: #f3f3f3; }} .mistakes {{ display: flex; flex-wrap: wrap; gap: .5em; }}
figure {{ margin: 0; width: 10em; font-size: .75em; overflow-wrap: anywhere; }} img {{ image-rendering: pixelated; }}
</style></head><body>
<h1>Model evaluation</h1>
<p>{report["data"]["images"]} labelled images from <code>{e(report["data"]["source"])}</code> ({counts});
threshold {report["threshold"]}.</p>
<h2>Summary</h2>
<table id="summary"><thead><tr><th>version</th><th>accuracy</th><th>pass share</th><th>accuracy among passed</th>
<th>ECE</th></tr></thead><tbody>{summary_rows}</tbody></table>
<h2>Per class</h2>
<table id="classes"><thead><tr><th>version</th><th>label</th><th>precision</th><th>recall</th><th>images</th></tr>
</thead><tbody>{class_rows}</tbody></table>
<h2>Confusion matrix</h2>
<img id="confusion" src="{_data_uri(plots["confusion"])}" alt="confusion matrices">
<h2>Reliability</h2>
<img id="reliability" src="{_data_uri(plots["reliability"])}" alt="reliability diagram">
<h2>Worst mistakes (most confident wrong answers)</h2>
{"".join(mistakes)}
</body></html>
"""
