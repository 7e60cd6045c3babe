"""``imageflow retrain``: train on the latest reviewed dataset version, evaluate, and serve it if it is better."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="retrain on the latest reviewed dataset version; approve and serve the result if it does not regress",
        description="The retraining steps offline: the latest dataset version (imageflow review import), a "
        "training job (the SageMaker container entry, in its own process), evaluation against the approved "
        "version on the same validation images, registration, the promotion gate, and a notification. A "
        "version that passes is approved: the next `imageflow run` or `imageflow serve` serves it.",
    )
    parser.add_argument(
        "--queue", type=Path, metavar="DIR", help="review queue folder (default: $IMAGEFLOW_REVIEW or .local/review)"
    )
    parser.add_argument(
        "--min-new-labels", type=int, default=0, metavar="N",
        help="end early when fewer images were labelled since the last retraining (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--min-interval-minutes", type=float, default=0.0, metavar="M",
        help="end early when the last retraining finished less than M minutes ago (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
        help="training job hyperparameter, e.g. flip=true (test-time flips in the graph); repeatable; default seed=0",
    )  # fmt: skip
    parser.add_argument(
        "--negatives",
        type=Path,
        metavar="DIR",
        help="pictures of neither label for the 'other' class (default: the bundled open-set negatives)",
    )
    parser.set_defaults(func=run)


def _keep_run(queue: object, run: object) -> None:
    """One line per run in <queue>/retrain/runs.jsonl: status, version, output, seconds from start to end."""
    folder = queue.root / "retrain"  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    line = {k: getattr(run, k) for k in ("status", "version", "output", "error", "cause")}
    line["seconds"] = round(run.seconds, 1)  # type: ignore[attr-defined]
    with (folder / "runs.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def run(args: argparse.Namespace) -> int:
    from imageflow.retrain.workflow import RetrainSettings, run_retrain
    from imageflow.review.queue import ReviewQueue

    hyperparameters = {"seed": "0"}
    for item in args.hyperparameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"imageflow retrain: --hyperparameter {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        hyperparameters[name] = value
    settings = RetrainSettings(min_new_labels=args.min_new_labels, min_interval_minutes=args.min_interval_minutes)
    execution_input = {"hyperparameters": hyperparameters}
    if args.min_new_labels or args.min_interval_minutes:
        execution_input.update(min_new_labels=args.min_new_labels, min_interval_minutes=args.min_interval_minutes)
    queue = ReviewQueue.open(args.queue)
    run = run_retrain(queue, settings, execution_input, negatives=args.negatives)
    _keep_run(queue, run)
    if run.status != "SUCCEEDED":
        print(f"imageflow retrain: retrainModel {run.status}: {run.error}: {run.cause}", file=sys.stderr)
        return 1
    output = run.output or {}
    if not output.get("retrained"):
        print(f"no retraining: {output.get('reason')}")
        return 0
    state = "approved and served" if output.get("promoted") else "kept PendingManualApproval"
    print(f"version {run.version}: {state} ({output.get('reason')})")
    print(f"  {output.get('summary')}")
    print(f"  retrainModel: start to {'served' if output.get('promoted') else 'end'} in {run.seconds:.1f} s")
    return 0
