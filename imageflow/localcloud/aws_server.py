"""The local AWS API: moto's server with the local cloud's patches (``imageflow.motopatch``) applied.

    python -m imageflow.localcloud.aws_server --port 5055 \\
        --lambda-env AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080

Deployed Lambda functions run from their uploaded zips in subprocesses; ``--lambda-env`` adds variables to
every function's environment (the local endpoints; ``AWS_ENDPOINT_URL`` defaults to this server), the way
the Lambda service gives functions their region and credentials.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imageflow.localcloud.aws_server",
        description="Serve moto (the local AWS API) with the project's fixes applied, on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5055, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--lambda-env",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="variable added to every Lambda function's environment (repeatable)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where deployed function code is unpacked (default: a new temporary directory)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # moto's state machine interpreter calls Lambda back through this server at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)

    from moto import server  # deferred: importing moto is slow and --help should not pay for it

    from imageflow.motopatch import index, local_cloud

    lambda_env = {"AWS_ENDPOINT_URL": f"http://{args.host}:{args.port}", **dict(args.lambda_env)}
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="imageflow-lambda-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    local_cloud.configure_lambda_runtime(work_dir, lambda_env)
    index.apply(index.LOCAL_CLOUD)
    from imageflow.localcloud import settings
    from imageflow.retrain import local_cloud as retrain_bridge  # retrainModel's SageMaker calls do real work

    retrain_bridge.install(f"http://{args.host}:{args.port}", settings.REGION, settings.ENDPOINT_NAME)
    print(f"local AWS API (moto with fixes) at http://{args.host}:{args.port}", flush=True)
    server.main(["--host", args.host, "--port", str(args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
