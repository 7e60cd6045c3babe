"""The `imageflow` command line: what the Serverless CLI does not do.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function that sets ``func`` on its parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module path -> registers one or more subcommands
_SUBCOMMAND_MODULES = (
    "imageflow.runner.cli",
    "imageflow.endpoint.cli",
    "imageflow.report.cli",
    "imageflow.localcloud.cli",
    "imageflow.training.cli",
    "imageflow.registry.cli",
    "imageflow.review.cli",
    "imageflow.retrain.cli",
    "imageflow.batch.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imageflow",
        description="Run the image-classification workflow offline or on AWS, serve the local model "
        "endpoint, and report on data capture.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only a missing subcommand package is tolerated, never a missing dependency inside it.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue  # subcommand not part of this build
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
