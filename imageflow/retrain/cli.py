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
    parser.add_argument("--queue", type=Path, metavar="DIR", help="review queue folder (default: $IMAGEFLOW_REVIEW or .local/review)")
    parser.add_argument("--min-new-labels", type=int, default=0, metavar="N",
                        help="end early when fewer images were labelled since the last retraining (default: %(default)s)")  # fmt: skip
    parser.add_argument("--min-interval-minutes", type=float, default=0.0, metavar="M",
                        help="end early when the last retraining finished less than M minutes ago (default: %(default)s)")  # fmt: skip
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                        help="training job hyperparameter (repeatable; default flip=true)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imageflow.retrain.local import RetrainError, RetrainSettings, retrain
    from imageflow.review.queue import ReviewQueue

    settings = RetrainSettings(min_new_labels=args.min_new_labels, min_interval_minutes=args.min_interval_minutes)
    for item in args.hyperparameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"imageflow retrain: --hyperparameter {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        settings.hyperparameters[name] = value
    try:
        outcome = retrain(ReviewQueue.open(args.queue), settings)
    except RetrainError as exc:
        print(f"imageflow retrain: {exc.name}: {exc}", file=sys.stderr)
        return 1
    print(outcome.summary())
    if outcome.retrained:
        validation = outcome.metrics.get("validation", {})
        baseline = outcome.metrics.get("approved_version_on_same_validation", {})
        print(f"  candidate on {outcome.metrics.get('validation_images')} validation images: {json.dumps(validation)}")
        print(f"  approved version {outcome.metrics.get('approved_version')} on the same images: {json.dumps(baseline)}")
        print(f"  time from start to served: {outcome.seconds.get('trigger_to_served')} s")
    return 0
