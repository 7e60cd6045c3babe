"""``imageflow upload``: upload files under the stage's upload prefix and, on the local cloud, deliver the
upload rule's event (moto's S3 sends none), so the per-image state machine runs as it does on AWS."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
On AWS (no AWS_ENDPOINT_URL) the upload itself is enough: S3 sends Object Created to EventBridge and the
stage's upload rule starts classifyImage. On the local cloud (`imageflow local start`, then
`source .local/local.env`) this command applies the same rule (batch/resources.yml) to an event shaped as S3
sends it and starts the deployed classifyImage with the rule's input; --wait prints each execution's end.

examples:
  imageflow upload "samples/motorcycle_left.png" --key "incoming/day 1/moto+left é.png" --stage local --wait
  imageflow upload photos/*.jpg --stage prod
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upload",
        help="upload images under the upload prefix; locally, deliver the upload rule's event",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--key", help="object key for a single file (default: PREFIX + the file name)")
    parser.add_argument("--stage", default="local", help="stage whose bucket and rule to use (default: %(default)s)")
    parser.add_argument("--bucket", help="bucket (default: the stack output ImagesBucketName)")
    parser.add_argument("--prefix", help="upload prefix (default: serverless.yml's uploadPrefix for the stage)")
    parser.add_argument(
        "--simulate-event",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deliver the rule's event yourself (default: on when AWS_ENDPOINT_URL points at a local cloud)",
    )
    parser.add_argument("--wait", action="store_true", help="wait for each execution and print its status")
    parser.set_defaults(func=run)


def upload_prefix(stage: str) -> str:
    from imageflow.runner.definition import _stage_params

    return str(_stage_params(stage).get("uploadPrefix", "incoming/"))


def run(args: argparse.Namespace) -> int:
    import os

    import boto3

    from imageflow.batch.upload_rule import execution_input, execution_name, load_rule, object_created_event
    from imageflow.runner.targets import STATE_MACHINE_OUTPUT, StackLookupError, stack_outputs

    if args.key and len(args.files) != 1:
        print("imageflow upload: --key names one object: give one file", file=sys.stderr)
        return EXIT_USAGE
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        print(f"imageflow upload: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    simulate = args.simulate_event if args.simulate_event is not None else bool(os.environ.get("AWS_ENDPOINT_URL"))
    session = boto3.session.Session()
    try:
        outputs = stack_outputs(session.client("cloudformation"), args.stage)
    except StackLookupError as exc:
        print(f"imageflow upload: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bucket = args.bucket or outputs.get("ImagesBucketName")
    machine = outputs.get(STATE_MACHINE_OUTPUT)
    if not bucket or (simulate and not machine):
        print(
            "imageflow upload: the stack has no ImagesBucketName/ClassifyImageStateMachineArn output", file=sys.stderr
        )
        return EXIT_FAILED
    prefix = args.prefix if args.prefix is not None else upload_prefix(args.stage)
    rule = load_rule(bucket, prefix)
    s3, sfn = session.client("s3"), session.client("stepfunctions")
    code = EXIT_OK
    for path in args.files:
        key = args.key or f"{prefix}{path.name}"
        answer = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        print(f"uploaded s3://{bucket}/{key}")
        if not simulate:
            continue
        event = object_created_event(bucket, key, size=path.stat().st_size, etag=answer["ETag"])
        execution = execution_input(rule, event)
        if execution is None:
            print(f"  the upload rule does not match {key!r} (prefix {prefix!r}): nothing started")
            continue
        arn = sfn.start_execution(stateMachineArn=machine, name=execution_name(key), input=json.dumps(execution))[
            "executionArn"
        ]
        print(f"  started {arn} with {json.dumps(execution, ensure_ascii=False)}")
        if args.wait:
            description = _wait(sfn, arn)
            print(
                f"  {description['status']} {description.get('error') or ''} {description.get('cause') or ''}".rstrip()
            )
            code = code if description["status"] in ("SUCCEEDED", "FAILED") else EXIT_FAILED
    return code


def _wait(sfn: Any, arn: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING" or time.monotonic() > deadline:
            return description
        time.sleep(0.2)
