"""``imageflow review``: the labelling handoff in SageMaker Ground Truth's formats.

imageflow review list                         what waits for a label
imageflow review export --out FILE            Ground Truth input manifest + label categories (each image once)
imageflow review import FILE                  output manifest or CSV -> a new dataset version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_LABELS = "bicycle,motorcycle"
EXIT_OK, EXIT_BAD_INPUT = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help="the review queue: export for Ground Truth, import labels as a new dataset version",
        description="Low-confidence images wait in the review queue ($IMAGEFLOW_REVIEW, else .local/review/) "
        "after `imageflow run`. Export them as a SageMaker Ground Truth input manifest, label them, and "
        "import the job's output manifest (or a CSV s3_uri,label) as a new dataset version for "
        "`imageflow retrain`.",
    )
    parser.add_argument(
        "--queue", type=Path, metavar="DIR", help="review queue folder (default: $IMAGEFLOW_REVIEW or .local/review)"
    )
    parser.add_argument(
        "--labels", default=DEFAULT_LABELS, help="label categories, in class order (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    listing = commands.add_parser("list", help="records in the queue and whether each is exported or labelled")
    listing.set_defaults(func=list_queue)
    export = commands.add_parser(
        "export",
        help="write a Ground Truth input manifest of the images not exported before, and the label categories",
    )
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="input manifest to write (JSON lines)")
    export.add_argument("--all", action="store_true", help="every image in the queue, exported before or not")
    export.set_defaults(func=export_manifest)
    imp = commands.add_parser(
        "import", help="add labelled images (Ground Truth output manifest or CSV s3_uri,label) as a dataset version"
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument(
        "--base",
        type=Path,
        metavar="DATA",
        help="training data (lst layout) the first dataset version builds on (default: the bundled CIFAR split); "
        "later versions build on the latest one",
    )
    imp.set_defaults(func=import_labels)


def _queue(args: argparse.Namespace):
    from imageflow.review.queue import ReviewQueue

    return ReviewQueue.open(args.queue)


def _labels(args: argparse.Namespace) -> list[str]:
    return [name.strip() for name in args.labels.split(",") if name.strip()]


def list_queue(args: argparse.Namespace) -> int:
    from imageflow.review.dataset import labelled_refs, latest

    queue = _queue(args)
    exported, labelled = queue.exported(), labelled_refs(latest(queue))
    records = queue.records()
    for record in records:
        state = (
            "labelled " + labelled[record.source_ref]
            if record.source_ref in labelled
            else ("exported" if record.source_ref in exported else "waiting")
        )
        print(f"{state:20s} {record.label or '-':11s} {record.confidence or 0:.3f}  {record.source_uri}")
    print(f"{len(records)} record(s) in {queue.root}")
    return EXIT_OK


def export_manifest(args: argparse.Namespace) -> int:
    from imageflow.review.dataset import labelled_refs, latest
    from imageflow.review.groundtruth import categories_path, input_manifest_lines, label_categories

    queue = _queue(args)
    done = set() if args.all else queue.exported() | set(labelled_refs(latest(queue)))
    records = queue.records()
    done_content = {r.content_id for r in records if r.source_ref in done}
    chosen, contents = [], set()
    for record in records:
        # the same bytes classified twice wait once: the first record stands for them
        if record.source_ref in done or record.content_id in done_content or record.content_id in contents:
            continue
        contents.add(record.content_id)
        chosen.append(record.source_ref)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(input_manifest_lines(chosen), encoding="utf-8")
    categories = categories_path(args.out)
    categories.write_text(label_categories(_labels(args)) + "\n", encoding="utf-8")
    if not args.all:
        queue.mark_exported(chosen)
    print(
        f"{len(chosen)} image(s) exported to {args.out} ({len(records)} in the queue, "
        f"{len(records) - len(chosen)} exported before, labelled or duplicates); label categories: {categories}"
    )
    return EXIT_OK


def import_labels(args: argparse.Namespace) -> int:
    from imageflow.review.dataset import DatasetVersionError, build_version, labelled_refs, latest
    from imageflow.review.groundtruth import LabelFileError, read_labels
    from imageflow.review.layout import RecordError

    queue = _queue(args)
    labels = _labels(args)
    try:
        known = queue.by_source_ref()
        items = read_labels(args.file, labels, set(known))
    except (LabelFileError, RecordError) as exc:
        print(f"imageflow review import: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    already = labelled_refs(latest(queue))
    new = [item for item in items if item.source_ref not in already]
    if not new:
        print(f"nothing new: all {len(items)} labelled image(s) are already in dataset {latest(queue).name}")
        return EXIT_OK
    try:
        base = {"base": args.base} if args.base else {}
        target, info = build_version(queue, new, labels, source=args.file, **base)
    except DatasetVersionError as exc:
        print(f"imageflow review import: {exc}; nothing imported", file=sys.stderr)
        return EXIT_BAD_INPUT
    if target is None:
        print(f"nothing new: the {len(new)} labelled image(s) are already in the training data (same bytes)")
        return EXIT_OK
    print(
        f"{len(new)} label(s) imported ({len(items) - len(new)} already labelled, "
        f"{len(info['duplicates_skipped'])} duplicate image(s) skipped): dataset {target} with {info['images']} "
        f"images ({', '.join(f'{k} {v}' for k, v in info['counts'].items())}; {info['reviewed_images']} reviewed)"
    )
    return EXIT_OK
