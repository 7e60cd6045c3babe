"""``imageflow serve``: run the local SageMaker-compatible endpoint over HTTP, under gunicorn."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imageflow.endpoint.paths import DEFAULT_LABELS_PATH, DEFAULT_MODEL_PATH

if TYPE_CHECKING:
    from imageflow.endpoint.service import LocalEndpoint

DEFAULT_ENDPOINT_NAME = "image-classifier-local"
DEFAULT_VARIANT = "AllTraffic"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the local model as a SageMaker runtime endpoint over HTTP",
        description="Serve the local ONNX classifier with SageMaker runtime's InvokeEndpoint API "
        "(POST /endpoints/{name}/invocations) and the model-container contract (POST /invocations, GET /ping), "
        "under gunicorn. Point boto3 at it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://HOST:PORT.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--endpoint-name",
        default=os.environ.get("ENDPOINT_NAME") or DEFAULT_ENDPOINT_NAME,
        help="endpoint name to answer to (default: $ENDPOINT_NAME or %(default)s)",
    )
    parser.add_argument(
        "--model",
        help="model version directory (default: the registry's approved version, see `imageflow models list`); "
        f"an ImageNet .onnx file is served with --labels (e.g. {DEFAULT_MODEL_PATH.name})",
    )
    parser.add_argument(
        "--labels", help=f"label map JSON for an ImageNet .onnx --model (default: {DEFAULT_LABELS_PATH.name})"
    )
    parser.add_argument(
        "--capture-uri",
        help="write SageMaker data capture to s3://bucket/prefix (S3 endpoint from boto3's usual "
        "configuration, e.g. AWS_ENDPOINT_URL_S3) or to a local directory; off when omitted",
    )
    parser.add_argument("--variant", default=DEFAULT_VARIANT, help="production variant name (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        help="onnxruntime intra-op threads per worker (default: the CPUs shared out among the workers)",
    )
    server = parser.add_argument_group(
        "server",
        "gunicorn settings; the defaults come from SageMaker's environment variables, as in the container",
    )
    server.add_argument(
        "--workers", type=int, help="worker processes (default: $SAGEMAKER_MODEL_SERVER_WORKERS or the CPU count)"
    )
    server.add_argument(
        "--timeout",
        type=int,
        help="seconds before a silent worker is restarted, and the graceful-stop grace period "
        "(default: $SAGEMAKER_MODEL_SERVER_TIMEOUT or 60)",
    )
    server.add_argument(
        "--max-inflight",
        type=int,
        help="invocations one worker holds, running or waiting; one more is answered HTTP 429 ThrottlingException "
        "(default: $IMAGEFLOW_MAX_INFLIGHT or 32)",
    )
    server.add_argument(
        "--model-concurrency",
        type=int,
        help="of those, how many run the model at once per worker; the rest wait their turn "
        "(default: $IMAGEFLOW_MODEL_CONCURRENCY or 2)",
    )
    server.add_argument(
        "--http-threads",
        type=int,
        help="request threads per worker, more than --max-inflight (default: $IMAGEFLOW_HTTP_THREADS or "
        "the in-flight limit + 16)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Check the model, bind the port, then serve under gunicorn until SIGTERM or Ctrl-C.

    Returns an exit code when it cannot start; once serving, gunicorn's master ends the process itself.
    """
    # imported here, not at module level: every `imageflow` command builds this parser, and only `serve`
    # should pay for loading gunicorn; this process loads neither numpy nor onnxruntime at all, since it
    # becomes gunicorn's master (see gunicorn_app.preflight)
    from imageflow.endpoint import gunicorn_app
    from imageflow.endpoint.listener import PortInUseError, bind_listener, listener_url

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        settings = gunicorn_app.ServerSettings.from_environment(
            workers=args.workers,
            timeout=args.timeout,
            max_inflight=args.max_inflight,
            concurrency=args.model_concurrency,
            http_threads=args.http_threads,
            model_threads=args.threads,
        )
    except gunicorn_app.ServerSettingsError as exc:
        print(f"imageflow serve: {exc}", file=sys.stderr)
        return 2
    try:
        listener = bind_listener(args.host, args.port, settings.backlog)
    except PortInUseError as exc:
        print(f"imageflow serve: {exc.strerror}", file=sys.stderr)
        return 1
    factory = functools.partial(_build_endpoint, args, settings.model_threads)
    try:
        summary = gunicorn_app.preflight(factory)
    except gunicorn_app.PreflightError as exc:
        listener.close()
        print(f"imageflow serve: {exc}", file=sys.stderr)
        return 2
    print(summary.banner(listener_url(listener)), flush=True)
    print(settings.describe(), flush=True)
    gunicorn_app.run(factory, settings, listener, verbose=args.verbose)
    return 0


def _build_endpoint(args: argparse.Namespace, threads: int) -> LocalEndpoint:
    """The endpoint ``imageflow serve`` serves (called once per worker, and once to check the model)."""
    from imageflow.endpoint.capture import DataCaptureWriter, destination_from_uri
    from imageflow.endpoint.service import LocalEndpoint

    classifier = _classifier(args, threads)
    capture = None
    if args.capture_uri:
        capture = DataCaptureWriter(destination_from_uri(args.capture_uri), args.endpoint_name, args.variant)
    return LocalEndpoint(classifier, args.endpoint_name, variant_name=args.variant, capture=capture)


def _classifier(args: argparse.Namespace, threads: int) -> Any:
    """A model version directory (default: the approved one), or an ImageNet .onnx file with a label map."""
    from imageflow.endpoint.model import ImageClassifier
    from imageflow.registry.resolve import load_served_classifier

    if args.model and Path(args.model).is_file():
        return ImageClassifier.from_files(args.model, args.labels or DEFAULT_LABELS_PATH, threads=threads)
    if args.labels:
        raise ValueError("--labels applies to an ImageNet .onnx --model file; a version directory has labels.json")
    if args.model:
        return load_served_classifier(Path(args.model), threads=threads)
    from imageflow.endpoint.model import ModelLoadError
    from imageflow.registry.follow import ApprovedVersionClassifier
    from imageflow.registry.store import RegistryError

    try:  # the approved version, followed: a newly approved one is served without a restart
        return ApprovedVersionClassifier(threads=threads)
    except RegistryError as exc:
        raise ModelLoadError(str(exc)) from None
