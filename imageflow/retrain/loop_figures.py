"""The loop's figures, from what `make loop` left in its folder.

    python -m imageflow.retrain.loop_figures OUT           print the figures, write OUT/figures.json
    python -m imageflow.retrain.loop_figures OUT --mark    print TIME=LABEL of the retraining (imageflow report --mark)

Accuracy is judged against the folder each image came from (``first/<label>/``, ``second/<label>/``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def run_figures(results: Path, threshold: float = 0.73) -> dict[str, Any]:
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line]
    right = sum(1 for r in rows if r.get("label") and Path(r["source"]).parent.name == r["label"])
    passed = sum(1 for r in rows if r["outcome"] == "passed")
    return {
        "images": len(rows),
        "accuracy": round(right / len(rows), 4) if rows else None,
        "pass_share": round(passed / len(rows), 4) if rows else None,
        "low_confidence": sum(1 for r in rows if r["outcome"] == "low_confidence"),
        "errors": sum(1 for r in rows if r["outcome"] == "error"),
    }


def figures(out: Path) -> dict[str, Any]:
    review = out / "review"
    manifest = out / "labelling" / "review.manifest"
    retrain_runs = [json.loads(x) for x in (review / "retrain" / "runs.jsonl").read_text().splitlines() if x]
    dataset = sorted((review / "datasets").glob("v*/dataset.json"))
    return {
        "before_retraining": run_figures(out / "run-1" / "results.jsonl"),
        "review_queue_records": len(list((review / "records").rglob("*.json"))),
        "exported": len(manifest.read_text().splitlines()) if manifest.is_file() else 0,
        "dataset": json.loads(dataset[-1].read_text()) if dataset else None,
        "retrain": retrain_runs[-1] if retrain_runs else None,
        "after_retraining": run_figures(out / "run-2" / "results.jsonl"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mark", action="store_true")
    args = parser.parse_args()
    if args.mark:
        last = json.loads((args.out / "review" / "retrain" / "last-run.json").read_text())
        print(f"{last['finished']}=retrained ({last['model_package_arn'].rsplit('/', 1)[-1]})")
        return
    found = figures(args.out)
    (args.out / "figures.json").write_text(json.dumps(found, indent=2) + "\n")
    before, after, retrain = found["before_retraining"], found["after_retraining"], found["retrain"] or {}
    print(
        f"before: accuracy {before['accuracy']}, pass {before['pass_share']} on {before['images']} images; "
        f"queue {found['review_queue_records']} records, {found['exported']} exported, "
        f"{(found['dataset'] or {}).get('reviewed_images')} labels imported; "
        f"retrain {retrain.get('seconds')} s to serve version {retrain.get('version')}; "
        f"after: accuracy {after['accuracy']}, pass {after['pass_share']} on {after['images']} images"
    )


if __name__ == "__main__":
    main()
