"""``imageflow serve``: run the local SageMaker-compatible endpoint over HTTP."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from imageflow.endpoint.paths import DEFAULT_LABELS_PATH, DEFAULT_MODEL_PATH

DEFAULT_ENDPOINT_NAME = "image-classifier-local"
DEFAULT_VARIANT = "AllTraffic"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the local model as a SageMaker runtime endpoint over HTTP",
        description="Serve the local ONNX classifier with SageMaker runtime's InvokeEndpoint API "
        "(POST /endpoints/{name}/invocations, GET /ping). Point boto3 at it with "
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://HOST:PORT.",
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
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: half the CPUs, >= 1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Load the model, bind the port, serve until interrupted; returns the exit code."""
    # imported here, not at module level: every `imageflow` command builds this parser, and only
    # `serve` should pay for loading onnxruntime
    from imageflow.endpoint.capture import DataCaptureWriter, destination_from_uri
    from imageflow.endpoint.labels import LabelMapError
    from imageflow.endpoint.model import ModelLoadError
    from imageflow.endpoint.server import EndpointServer, PortInUseError
    from imageflow.endpoint.service import LocalEndpoint

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        classifier = _classifier(args)
        capture = None
        if args.capture_uri:
            capture = DataCaptureWriter(destination_from_uri(args.capture_uri), args.endpoint_name, args.variant)
        endpoint = LocalEndpoint(classifier, args.endpoint_name, variant_name=args.variant, capture=capture)
        server = EndpointServer(endpoint, args.host, args.port)
    except PortInUseError as exc:
        print(f"imageflow serve: {exc.strerror}", file=sys.stderr)
        return 1
    except (ModelLoadError, LabelMapError, ValueError) as exc:
        print(f"imageflow serve: {exc}", file=sys.stderr)
        return 2

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # same clean path as Ctrl-C: stop serving, flush capture

    if threading.current_thread() is threading.main_thread():  # signal handlers only install there
        signal.signal(signal.SIGTERM, _terminate)
    labels = ", ".join(classifier.labels)
    print(f"serving endpoint {endpoint.endpoint_name!r} ({labels}) at {server.url}", flush=True)
    if capture is not None:
        print(f"data capture -> {capture.describe()}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _classifier(args: argparse.Namespace) -> Any:
    """A model version directory (default: the approved one), or an ImageNet .onnx file with a label map."""
    from pathlib import Path

    from imageflow.endpoint.model import ImageClassifier
    from imageflow.registry.resolve import load_served_classifier

    if args.model and Path(args.model).is_file():
        return ImageClassifier.from_files(args.model, args.labels or DEFAULT_LABELS_PATH, threads=args.threads)
    if args.labels:
        raise ValueError("--labels applies to an ImageNet .onnx --model file; a version directory has labels.json")
    return load_served_classifier(Path(args.model) if args.model else None, threads=args.threads)
