"""``imageflow run``: classify files, folders or S3 prefixes through the state machine.

Offline by default (the real ASL on moto's interpreter, the real handlers and model
in-process); ``--aws`` runs the deployed stage instead. Either way every input ends in
exactly one outcome, shown in a summary table and written to a JSON-lines results file.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("out")
DEFAULT_LOCAL_CONCURRENCY = 4
DEFAULT_AWS_CONCURRENCY = 16
DEFAULT_TABLE_ROWS = 50
LOCAL_ENDPOINT_NAME = "image-classifier-local"
CAPTURE_PREFIX = "data-capture"

EXIT_OK = 0
EXIT_FAILED = 1  # the run could not start or did not account for every input
EXIT_USAGE = 2  # bad arguments or inputs (argparse uses 2 as well)

_EPILOG = """\
outcomes: passed (confident), low_confidence (THRESHOLD_CONFIDENCE_NOT_MET), error (with the
error name, e.g. NotAnImageError). Folders are read recursively; every file in them is an
input (hidden files excepted), so a non-image file ends as an error outcome.

exit status: 0 when every input has an outcome, including low-confidence and failed images
(they are results, not failures of the run); 1 when the run could not start (model or stack
not found) or lost track of an input; 2 for usage errors (no such path, nothing to classify).

examples:
  imageflow run samples/
  imageflow run photos/ s3://my-bucket/incoming/ --threshold 0.8 --results out/today.jsonl
  imageflow run samples/ --aws --stage dev --region eu-west-1
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="classify images through the workflow (offline by default, or --aws)",
        description="Classify images through the workflow's state machines. Offline (the default) the inputs "
        "go through classifyBatch, the Distributed Map that runs the classify-image chain for each image, with "
        "the local model endpoint and SageMaker-format data capture. With --aws, s3:// prefixes go through the "
        "deployed classifyBatch; local files through one classifyImage execution each.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file, folder (recursive) or s3://bucket/prefix")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="folder for the results file and the data capture mirror (default: %(default)s)",
    )
    parser.add_argument(
        "--results", type=Path, metavar="FILE", help="JSON-lines results file (default: DIR/results.jsonl)"
    )
    parser.add_argument(
        "--capture-dir",
        type=Path,
        metavar="DIR",
        help="local run: folder the data capture is mirrored to, in SageMaker's layout, for "
        "`imageflow report` (default: OUT/data-capture)",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        metavar="X",
        help="local run: confidence in (0, 1] an image needs to pass (default: the handlers' THRESHOLD, 0.73)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help=f"images in flight at once: the local batch's MaxConcurrency, or --aws executions of local files "
        f"(default: {DEFAULT_LOCAL_CONCURRENCY} locally, {DEFAULT_AWS_CONCURRENCY} with --aws)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=250,
        metavar="N",
        help="local run: images per classifyBatch execution (default: %(default)s); each batch is one "
        "Distributed Map over its own prefix, and memory stays flat however many batches a run has",
    )
    parser.add_argument(
        "--table-rows",
        type=int,
        default=DEFAULT_TABLE_ROWS,
        metavar="N",
        help="rows shown in the summary table (default: %(default)s; all are in the results file)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="DIR",
        help="local run: model version directory to serve (default: the registry's approved version; "
        "see `imageflow models list`)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    aws = parser.add_argument_group("deployed stage (--aws)")
    aws.add_argument("--aws", action="store_true", help="run the deployed state machine instead of the local one")
    aws.add_argument(
        "--stage", default="dev", help="stage whose stack image-classification-STAGE to use (default: %(default)s)"
    )
    aws.add_argument("--region", help="AWS region (default: boto3's configuration)")
    aws.add_argument("--state-machine-arn", metavar="ARN", help="state machine to run (default: the stack's output)")
    aws.add_argument("--bucket", help="bucket local files are uploaded to (default: the stack's output)")
    parser.set_defaults(func=run)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def new_run_id() -> str:
    """Sortable and unique: execution names must not repeat (AWS keeps them 90 days)."""
    return f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _fail(message: str, code: int) -> int:
    print(f"imageflow run: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Entry point of ``imageflow run``; returns the exit status."""
    import boto3  # deferred: building the CLI parser must stay cheap

    from imageflow.runner.inputs import InputError, expand_inputs

    if args.aws and args.threshold is not None:
        return _fail("--threshold applies to the local run; a deployed stage uses its THRESHOLD setting", EXIT_USAGE)
    if args.aws and args.model is not None:
        return _fail("--model applies to the local run; a deployed stage serves its endpoint's model", EXIT_USAGE)
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    try:
        inputs = expand_inputs(args.paths, lambda: session.client("s3"))
    except InputError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # listing an S3 prefix: credentials, network, no such bucket
        return _fail(f"cannot list inputs: {exc}", EXIT_USAGE)
    results_path = args.results or args.out / "results.jsonl"
    runner = _run_on_aws if args.aws else _run_locally
    return runner(args, session, inputs, results_path)


def _run_locally(args: argparse.Namespace, session: Any, inputs: list[Any], results_path: Path) -> int:
    from imageflow.endpoint.labels import LabelMapError
    from imageflow.endpoint.model import ModelLoadError
    from imageflow.endpoint.service import LocalEndpoint
    from imageflow.registry.resolve import load_served_classifier
    from imageflow.review.local import keep_review_queue
    from imageflow.review.queue import ReviewQueue
    from imageflow.runner.batch_machine import LocalBatchBackend, run_batch_chunks
    from imageflow.runner.local_capture import attach_local_capture
    from imageflow.runner.workflow import LocalWorkflow

    capture_dir = args.capture_dir or args.out / CAPTURE_PREFIX
    try:
        classifier = load_served_classifier(args.model)
    except (ModelLoadError, LabelMapError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    run_id = new_run_id()
    endpoint = LocalEndpoint(classifier, endpoint_name=LOCAL_ENDPOINT_NAME)
    concurrency = args.concurrency or DEFAULT_LOCAL_CONCURRENCY
    with (
        _local_copies_of_s3_inputs(inputs, session) as local_inputs,
        LocalWorkflow(
            endpoint,
            threshold=args.threshold,
            labels=classifier.labels,
            batch_concurrency=concurrency,
            review_queue=ReviewQueue.open(),  # the review queue outlives the run (issue 11)
        ) as workflow,
    ):
        attach_local_capture(endpoint, capture_dir)
        backend = LocalBatchBackend(workflow)
        try:
            # classifyBatch (a Distributed Map) runs the images, `concurrency` children at a time
            code = _execute(
                args,
                local_inputs,
                results_path,
                lambda on_outcome: run_batch_chunks(
                    backend, local_inputs, run_id, on_outcome, chunk_size=args.batch_size
                ),
            )
        finally:
            endpoint.close()  # flush the last capture file
            keep_review_queue(workflow)
    print(f"data capture: {capture_dir}/{endpoint.endpoint_name}/{endpoint.variant_name}/")
    if args.model is None:  # the retraining trigger (issue 11): the alarm's rule over this run's results
        from imageflow.retrain.trigger import after_run

        after_run(results_path)
    return code


def _run_on_aws(args: argparse.Namespace, session: Any, inputs: list[Any], results_path: Path) -> int:
    from imageflow.runner.batch import run_batch
    from imageflow.runner.targets import AwsTarget, StackLookupError, resolve_deployment

    try:
        arn, bucket = resolve_deployment(
            session.client("cloudformation"), args.stage, args.state_machine_arn, args.bucket
        )
    except StackLookupError as exc:
        return _fail(str(exc), EXIT_FAILED)
    if bucket is None and any(not item.in_s3 for item in inputs):
        return _fail(
            "local files need a bucket to upload to: the stack has no ImagesBucketName; pass --bucket", EXIT_USAGE
        )
    run_id = new_run_id()
    prefixes = [path for path in args.paths if path.startswith("s3://")]
    if prefixes and len(prefixes) == len(args.paths) and not args.state_machine_arn:
        return _run_prefixes_on_aws(args, session, inputs, results_path, prefixes, run_id)
    target = AwsTarget(session.client("stepfunctions"), session.client("s3"), arn, bucket, run_id)
    print(f"state machine: {arn}", file=sys.stderr)
    concurrency = args.concurrency or DEFAULT_AWS_CONCURRENCY
    return _execute(
        args,
        inputs,
        results_path,
        lambda on_outcome: run_batch(target, inputs, run_id, on_outcome, concurrency=concurrency),
    )


def _run_prefixes_on_aws(
    args: argparse.Namespace, session: Any, inputs: list[Any], results_path: Path, prefixes: list[str], run_id: str
) -> int:
    """s3:// prefixes only: one classifyBatch execution (Distributed Map) per prefix, on AWS's engine."""
    from handlers.common.batch_manifest import is_own_object
    from imageflow.runner.batch_machine import AwsBatchBackend, run_prefix_batch
    from imageflow.runner.inputs import parse_s3_uri
    from imageflow.runner.targets import BATCH_STATE_MACHINE_OUTPUT, StackLookupError, stack_outputs

    try:
        machine = stack_outputs(session.client("cloudformation"), args.stage).get(BATCH_STATE_MACHINE_OUTPUT)
    except StackLookupError as exc:
        return _fail(str(exc), EXIT_FAILED)
    if not machine:
        return _fail(f"the stage's stack has no output {BATCH_STATE_MACHINE_OUTPUT}: deploy this version", EXIT_FAILED)
    print(f"state machine: {machine}", file=sys.stderr)
    own = [item for item in inputs if is_own_object(item.key or "")]
    if own:
        # batch results, ledger and review queue under the prefix are the workflow's outputs, not images
        inputs = [item for item in inputs if not is_own_object(item.key or "")]
        print(f"skipped {len(own)} objects under batch/ and review/ (the workflow's own outputs)", file=sys.stderr)
        if not inputs:
            return _fail("nothing to classify: every object is under batch/ or review/", EXIT_USAGE)
    sfn, s3 = session.client("stepfunctions"), session.client("s3")

    def dispatch(on_outcome: Any) -> int:
        delivered = 0
        claimed: set[int] = set()
        for number, uri in enumerate(prefixes):
            bucket, prefix = parse_s3_uri(uri)
            wanted = {
                item.key: index
                for index, item in enumerate(inputs)
                if index not in claimed and item.bucket == bucket and (item.key or "").startswith(prefix)
            }
            claimed.update(wanted.values())
            backend = AwsBatchBackend(sfn, s3, machine, bucket)
            delivered += run_prefix_batch(backend, bucket, prefix, wanted, inputs, f"{run_id}-{number:03d}", on_outcome)
        return delivered

    return _execute(args, inputs, results_path, dispatch)


@contextlib.contextmanager
def _local_copies_of_s3_inputs(inputs: list[Any], session: Any) -> Iterator[list[Any]]:
    """Download s3:// inputs first: once the local workflow runs, boto3 talks to moto only.

    Files go to a temporary folder (not memory), deleted after the run.
    """
    from imageflow.runner.inputs import ImageInput

    if not any(item.in_s3 for item in inputs):
        yield inputs
        return
    s3 = session.client("s3")
    with tempfile.TemporaryDirectory(prefix="imageflow-s3-") as folder:
        local: list[ImageInput] = []
        for index, item in enumerate(inputs):
            if not item.in_s3:
                local.append(item)
                continue
            path = Path(folder) / f"{index:05d}-{item.name or 'object'}"
            s3.download_file(item.bucket, item.key, str(path))
            local.append(ImageInput(item.source, path=path))
        yield local


def _execute(
    args: argparse.Namespace,
    inputs: Sequence[Any],
    results_path: Path,
    dispatch: Callable[[Callable[[int, Any], None]], int],
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from imageflow.runner.results import ResultsWriter, counts_line, summary_table

    table_rows: dict[int, Any] = {}  # only the rows the table shows stay in memory
    stderr = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
        console=stderr,
        disable=args.quiet,
        transient=False,
    )
    with ResultsWriter(results_path) as writer, progress:
        task = progress.add_task("run", total=len(inputs), counts="")

        def on_outcome(index: int, outcome: Any) -> None:
            writer.write(outcome)
            if index < args.table_rows:
                table_rows[index] = outcome
            progress.update(task, advance=1, counts=counts_line(writer.counts))

        dispatch(on_outcome)
    console = Console()
    console.print(summary_table((table_rows[i] for i in sorted(table_rows)), total=len(inputs)))
    console.print(counts_line(writer.counts))
    console.print(f"results: {results_path}")
    if writer.written != len(inputs):
        return _fail(f"{len(inputs)} inputs but {writer.written} outcomes recorded", EXIT_FAILED)
    return EXIT_OK
