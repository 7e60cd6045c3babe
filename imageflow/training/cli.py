"""``imageflow train`` and ``imageflow evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_TRAIN_EPILOG = """\
DATA is SageMaker's image/lst layout (DATA/train/ + DATA/train_lst/*.lst, optionally DATA/validation/ +
DATA/validation_lst/*.lst) or a folder per class (DATA/<label>/..., or DATA/train/<label>/ and
DATA/validation/<label>/). Without validation data, a stratified share of train is held out (--seed).

The version directory holds model.onnx (one graph: backbone + head), head.onnx, labels.json and
metadata.json. Unless --no-register, it is also registered in the model registry and approved when it
does not regress against the approved version on the same validation images.

examples:
  imageflow train datasets/cifar100-bicycle-motorcycle --out out/models/v1
  imageflow train photos/ --labels cat,dog --out out/models/pets --seed 7
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``evaluate`` subcommands."""
    parser = subparsers.add_parser(
        "train",
        help="train the classifier on labelled images (transfer learning on the shipped MobileNetV2)",
        description="Train a head on the shipped MobileNetV2's features (scikit-learn), calibrate it on the "
        "validation split, and write a model version directory with one ONNX graph to serve.",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", type=Path, metavar="DATA", help="labelled images (lst or folder-per-class layout)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="model version directory to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation hold-outs (default: %(default)s)")
    parser.add_argument(
        "--labels", type=_labels, help="label names in output order (default: bicycle,motorcycle for lst data; "
        "the sorted folder names for a folder layout)",
    )  # fmt: skip
    parser.add_argument("--validation-share", type=float, default=0.2, help="hold-out share (default: %(default)s)")
    parser.add_argument("--C", dest="regularisation", type=float, default=0.01, help="inverse L2 strength of the "
                        "logistic regression (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--negatives", type=Path, metavar="DIR", help="images of neither label, the 'other' class (default: "
        "datasets/open-set-negatives/train)",
    )  # fmt: skip
    parser.add_argument("--no-negatives", action="store_true", help="train without an 'other' class")
    parser.add_argument("--no-zero-shot", action="store_true", help="do not mix in the zero-shot ImageNet head")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: half the CPUs, >= 1)")
    parser.add_argument("--version", help="version name in metadata.json (default: trained-<time>-<data digest>)")
    parser.add_argument("--no-register", action="store_true", help="only write DIR; do not register it")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a model version on labelled images (HTML + JSON report with plots)",
        description="Score a model version on labelled images: accuracy, per-class precision/recall, confusion "
        "matrix, pass share at the threshold and accuracy among passed, reliability diagram and ECE, worst "
        "mistakes. --baseline puts a second version beside it on the same images.",
    )
    evaluate.add_argument("model", type=Path, metavar="DIR", help="model version directory")
    evaluate.add_argument("data", type=Path, metavar="DATA", help="labelled images (lst or folder layout); all of "
                          "them are scored (train and validation)")  # fmt: skip
    evaluate.add_argument("--out", type=Path, default=Path("out/evaluation"), metavar="REPORT_DIR",
                          help="where report.html, report.json and the plots go (default: %(default)s)")  # fmt: skip
    evaluate.add_argument("--baseline", type=Path, metavar="DIR2", help="a second version to compare with")
    evaluate.add_argument("--threshold", type=float, default=0.73, help="pass threshold (default: %(default)s)")
    evaluate.add_argument("--labels", type=_labels, help="label names of lst data (default: the model's labels)")
    evaluate.add_argument("--threads", type=int, help="onnxruntime threads")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=run_evaluate)


def _labels(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if len(names) < 2 or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: need at least two distinct comma-separated names")
    return names


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"imageflow {command}: {message}", file=sys.stderr)
    return code


def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from imageflow.training.backbone import BackboneError, ImageDecodeFailure
    from imageflow.training.data import DatasetError
    from imageflow.training.report import print_training_summary
    from imageflow.training.train import DEFAULT_NEGATIVES, TrainConfig, TrainingError, train

    negatives = None if args.no_negatives else (args.negatives or DEFAULT_NEGATIVES)
    config = TrainConfig(
        labels=args.labels,
        seed=args.seed,
        validation_share=args.validation_share,
        regularisation=args.regularisation,
        negatives=negatives,
        use_zero_shot=not args.no_zero_shot,
        threads=args.threads,
        version=args.version,
        parent=None if args.no_register else _approved_version_name(),
    )
    console = Console(stderr=True)
    try:
        with _progress(console, args.quiet) as progress:
            result = train(args.data, args.out, config, progress)
    except (DatasetError, ImageDecodeFailure, TrainingError, BackboneError) as exc:
        return _fail("train", str(exc))
    print_training_summary(result.metadata, Console())
    if not args.no_register:
        from imageflow.registry.cli import register_and_report

        return register_and_report(args.out, result.dataset.validation, Console(), result.validation_probabilities)
    return 0


def _approved_version_name() -> str | None:
    from imageflow.registry.store import Registry

    approved = Registry.open().approved()
    return approved.version if approved else None


class _progress:
    """A rich progress bar fed by train()'s (phase, done, total) callback; silent when quiet."""

    def __init__(self, console: object, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,  # type: ignore[arg-type]
            disable=quiet,
        )
        self._tasks: dict[str, object] = {}

    def __enter__(self) -> _progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(phase, total=total)
        self._bar.update(self._tasks[phase], completed=done)  # type: ignore[arg-type]


def run_evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from imageflow.endpoint.model import ModelLoadError
    from imageflow.training.data import DatasetError
    from imageflow.training.evaluate import EvaluationError, evaluate_versions

    console = Console(stderr=True)
    try:
        with _progress(console, args.quiet) as progress:
            report = evaluate_versions(
                args.model,
                args.data,
                args.out,
                baseline=args.baseline,
                threshold=args.threshold,
                labels=args.labels,
                threads=args.threads,
                progress=progress,
            )
    except (DatasetError, ModelLoadError, EvaluationError) as exc:
        return _fail("evaluate", str(exc))
    from imageflow.training.report import print_evaluation_summary

    print_evaluation_summary(report, Console())
    return 0
