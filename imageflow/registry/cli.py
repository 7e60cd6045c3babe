"""``imageflow models list | show | approve | reject | register``: the local model registry."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_EPILOG = """\
The served version (used by `imageflow run` and `imageflow serve` without --model) is the most recently
approved one. The registry lives in $IMAGEFLOW_REGISTRY, else .local/registry/ in the repository.

examples:
  imageflow models list
  imageflow models show 1
  imageflow models approve zero-shot       # serve the zero-shot ImageNet head again
  imageflow models reject 2 --reason "worse on night photos"
  imageflow models register out/models/v1 --data datasets/cifar100-bicycle-motorcycle
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand and its verbs."""
    parser = subparsers.add_parser(
        "models",
        help="list, show, approve or reject model versions (local model registry)",
        description="The local model registry, shaped like SageMaker Model Registry: one model package group, "
        "versions with approval status PendingManualApproval / Approved / Rejected and their metrics.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("list", help="every version with its status and validation figures").set_defaults(func=run_list)
    show = verbs.add_parser("show", help="one version's package record and metadata as JSON")
    show.add_argument("version")
    show.set_defaults(func=run_show)
    for verb, helptext in (("approve", "approve (and so serve) a version"), ("reject", "reject a version")):
        sub = verbs.add_parser(verb, help=helptext)
        sub.add_argument("version")
        sub.add_argument("--reason", help="why (kept in the record's ApprovalDescription)")
        sub.set_defaults(func=run_set_status, status_verb=verb)
    reg = verbs.add_parser("register", help="register a version directory, approving it if it does not regress")
    reg.add_argument("directory", type=Path, metavar="DIR")
    reg.add_argument("--data", type=Path, required=True, help="labelled images whose validation split both the "
                     "new and the approved version are scored on")  # fmt: skip
    reg.add_argument("--seed", type=int, help="hold-out seed (default: the one in DIR's metadata.json)")
    reg.set_defaults(func=run_register)


def _fail(message: str, code: int = 2) -> int:
    print(f"imageflow models: {message}", file=sys.stderr)
    return code


def _registry() -> Any:
    from imageflow.registry.store import Registry

    return Registry.open()


def _figure(value: object) -> str:
    return "-" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    registry = _registry()
    served = registry.approved()
    table = Table(title=f"model package group {registry.root}", caption="figures: validation split; * = served")
    table.add_column("version", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("", "accuracy", "pass", "right|pass", "ECE", "created"):
        table.add_column(column, no_wrap=True)
    for package in registry.versions():
        figures = package.record.get("ModelMetrics", {}).get("validation", {})
        if "after_calibration" in figures:
            figures = figures["after_calibration"]
        table.add_row(
            package.version,
            package.status,
            "*" if served and served.version == package.version else "",
            _figure(figures.get("accuracy")),
            _figure(figures.get("pass_share")),
            _figure(figures.get("accuracy_among_passed")),
            _figure(figures.get("ece")),
            str(package.record.get("CreationTime", ""))[:16].replace("T", " "),
        )
    Console().print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from imageflow.registry.store import RegistryError

    try:
        package = _registry().get(args.version)
        document = {"package": package.record, "directory": str(package.directory), "metadata": package.metadata}
    except RegistryError as exc:
        return _fail(str(exc))
    print(json.dumps(document, indent=2))
    return 0


def run_set_status(args: argparse.Namespace) -> int:
    from imageflow.registry.store import APPROVED, REJECTED, RegistryError

    status = APPROVED if args.status_verb == "approve" else REJECTED
    reason = args.reason or f"{args.status_verb}d manually"
    try:
        registry = _registry()
        registry.set_status(args.version, status, reason)
        served = registry.approved()
    except RegistryError as exc:
        return _fail(str(exc))
    print(f"version {args.version}: {status}")
    print(f"served version: {served.version if served else 'none (approve one, or pass --model DIR)'}")
    return 0


def run_register(args: argparse.Namespace) -> int:
    from imageflow.endpoint.model import ModelLoadError, read_version_labels
    from imageflow.registry.store import RegistryError
    from imageflow.training.data import DatasetError, load_dataset
    from imageflow.training.versiondir import read_metadata

    try:
        metadata = read_metadata(args.directory)
        labels = read_version_labels(args.directory)
        seed = args.seed if args.seed is not None else int(metadata.get("seed") or 0)
        share = float((metadata.get("hyperparameters") or {}).get("validation_share") or 0.2)
        dataset = load_dataset(args.data, labels, validation_share=share, seed=seed)
    except (ModelLoadError, DatasetError, RegistryError) as exc:
        return _fail(str(exc))
    from rich.console import Console

    return register_and_report(args.directory, dataset.validation, Console())


def register_and_report(directory: Path, validation: Sequence[Any], console: Any, probabilities: Any = None) -> int:
    """Register a version with automatic approval and say what happened."""
    from imageflow.registry.approval import register_with_approval
    from imageflow.registry.store import RegistryError

    try:
        registry = _registry()
        package, _found = register_with_approval(registry, directory, validation, candidate_probabilities=probabilities)
    except RegistryError as exc:
        return _fail(str(exc))
    console.print(f"registered as version [bold]{package.version}[/bold]: {package.status}")
    console.print(package.record["ApprovalDescription"])
    served = registry.approved()
    console.print(f"served version: {served.version if served else 'none'}")
    return 0
