"""Print the cost per million images on AWS (README "What it costs") from measured figures and the prices file.

    .venv/bin/python benchmarks/cost_model.py [--measured pricing/measured.json] [--prices pricing/aws-us-east-1.json]

Refresh the measurements first with ``benchmarks/handler_benchmark.py``; edit the prices file when AWS's prices
change (it names its sources and the date they were recorded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imageflow.cost.model import MEASURED, PRICES, CostInputError, markdown, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", type=Path, default=MEASURED)
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--images-per-day", type=int, default=100_000, help="for the real-time endpoint's line")
    args = parser.parse_args()
    try:
        table, notes = rows(args.measured, args.prices, images_per_day=args.images_per_day)
    except CostInputError as exc:
        print(f"cost_model: {exc}", file=sys.stderr)
        return 2
    print(markdown(table, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
