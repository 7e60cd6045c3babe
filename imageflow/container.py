"""``imageflow-container``: the entry point of the SageMaker image, run as SageMaker runs it.

* ``imageflow-container serve``: the inference container contract. ``GET /ping`` and ``POST /invocations``
  on port 8080 (``$SAGEMAKER_BIND_TO_PORT`` when SageMaker sets another), serving the model version in
  ``/opt/ml/model`` with the same serving code as ``imageflow serve`` (gunicorn; workers, timeout and
  admission control from the environment, see ``imageflow.endpoint.gunicorn_app``).
* ``imageflow-container train``: the training container contract, delegated to
  ``imageflow.training.container.main(root)``.

``/opt/ml`` can be moved with ``$IMAGEFLOW_OPT_ML`` (tests run both entry points against a temporary tree).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imageflow.endpoint.model import ImageClassifier
    from imageflow.endpoint.service import LocalEndpoint

OPT_ML_ENV = "IMAGEFLOW_OPT_ML"
DEFAULT_OPT_ML = Path("/opt/ml")
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
DEFAULT_PORT = 8080
HOST = "0.0.0.0"  # SageMaker reaches the container from outside it
# The container does not know its endpoint's name; SageMaker calls it only through /invocations and /ping.
CONTAINER_ENDPOINT_NAME = "model"
_TRAINING_MODULE = "imageflow.training.container"

ModelLoader = Callable[..., "ImageClassifier"]  # (model_dir: Path, *, threads: int | None) -> ImageClassifier


def opt_ml_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$IMAGEFLOW_OPT_ML`` or ``/opt/ml``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(OPT_ML_ENV) or DEFAULT_OPT_ML)


def main(argv: Sequence[str] | None = None, *, load_model: ModelLoader | None = None) -> int:
    """Run ``serve`` or ``train``; ``load_model`` replaces ``load_model_dir`` (tests)."""
    parser = argparse.ArgumentParser(
        prog="imageflow-container",
        description="SageMaker container entry point: `serve` answers /ping and /invocations on port 8080 "
        "with the model in /opt/ml/model; `train` runs a training job from /opt/ml/input. "
        f"Set ${OPT_ML_ENV} to use another root than /opt/ml.",
    )
    parser.add_argument("command", choices=["serve", "train"], help="what SageMaker asks the container to do")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    root = opt_ml_root()
    if args.command == "train":
        return train(root)
    return serve(root, load_model=load_model)


def serve(root: Path, *, load_model: ModelLoader | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Serve ``root/model`` until SageMaker stops the container; returns an exit code if it cannot start."""
    from imageflow.endpoint import gunicorn_app
    from imageflow.endpoint.listener import PortInUseError, bind_listener, listener_url

    environ = os.environ if environ is None else environ
    try:
        settings = gunicorn_app.ServerSettings.from_environment(environ)
        port = _port(environ)
    except gunicorn_app.ServerSettingsError as exc:
        return _fail("serve", str(exc))
    model_dir = root / "model"
    if not model_dir.is_dir():
        return _fail("serve", f"no model directory {model_dir} (SageMaker unpacks the model artifact there)")
    factory = _EndpointFactory(model_dir, settings.model_threads, load_model)
    try:
        listener = bind_listener(HOST, port, settings.backlog)
    except PortInUseError as exc:
        return _fail("serve", str(exc.strerror))
    try:
        summary = gunicorn_app.preflight(factory)
    except gunicorn_app.PreflightError as exc:
        listener.close()
        return _fail("serve", f"cannot load the model in {model_dir}: {exc}")
    print(summary.banner(listener_url(listener)), flush=True)
    print(settings.describe(), flush=True)
    gunicorn_app.run(factory, settings, listener)
    return 0


class _EndpointFactory:
    """Builds the endpoint in each worker (a class, not a closure, so that it reads well in tracebacks)."""

    def __init__(self, model_dir: Path, threads: int, load_model: ModelLoader | None) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.load_model = load_model

    def __call__(self) -> LocalEndpoint:
        from imageflow.endpoint.service import LocalEndpoint

        load = self.load_model or _load_model_dir()
        return LocalEndpoint(load(self.model_dir, threads=self.threads), CONTAINER_ENDPOINT_NAME)


def _load_model_dir() -> ModelLoader:
    try:
        from imageflow.endpoint.model import load_model_dir
    except ImportError:  # an image built from a tree without model versions
        raise RuntimeError(
            "this build has no imageflow.endpoint.model.load_model_dir, so it cannot serve a model version"
        ) from None
    return load_model_dir


def train(root: Path) -> int:
    """Run the training job (``imageflow.training.container.main(root)``)."""
    try:
        from imageflow.training.container import main as train_main
    except ModuleNotFoundError as exc:
        if exc.name is None or not _TRAINING_MODULE.startswith(exc.name):
            raise  # a dependency missing inside the trainer: its own traceback says which
        message = (
            f"this image has no training entry point ({_TRAINING_MODULE} is not installed); "
            "build the image from a tree that includes imageflow/training/"
        )
        _write_failure(root, message)
        return _fail("train", message)
    return int(train_main(root) or 0)


def _port(environ: Mapping[str, str]) -> int:
    from imageflow.endpoint.gunicorn_app import ServerSettingsError

    raw = environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ServerSettingsError(f"{PORT_ENV}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _write_failure(root: Path, message: str) -> None:
    """SageMaker reports ``/opt/ml/output/failure`` as the training job's FailureReason."""
    try:
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output" / "failure").write_text(message + "\n", encoding="utf-8")
    except OSError:
        pass  # the message still goes to the log


def _fail(command: str, message: str) -> int:
    print(f"imageflow-container {command}: {message}", file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
