"""``imageflow retrain`` in-process: the retrainModel state machine on moto's interpreter, doing real work.

The same ASL file as on AWS (``stepfunctions/retrain_model.asl.yml``) runs inside ``LocalWorkflow`` (moto S3
and Step Functions, the project's Lambda functions in-process). Its ``retrainPolicy`` task runs the real
handler with the stage's settings as environment; its ``aws-sdk:sagemaker:*`` tasks are answered by
``SageMakerBridge`` (a real training job process, the local registry, the endpoint); its ``aws-sdk:s3`` and
``aws-sdk:sfn`` tasks go to moto; its SNS messages are kept in ``<queue>/retrain/notifications.jsonl``.

Before the execution, the local state is put where the state machine reads it on AWS:

* the latest dataset version (``imageflow review import``) under ``review/datasets/<version>/`` with the
  pointer ``review/datasets/latest.json`` (without one, the bundled data as ``review/datasets/base/``);
* the last run's record ``review/retrain/last-run.json``;
* the approved version as ``review/retrain/approved/model.tar.gz``: the baseline the job evaluates against.

After it, the last run's record goes back to the queue folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from imageflow.retrain import sdk_casing
from imageflow.retrain.sagemaker_bridge import SageMakerBridge
from imageflow.review.dataset import BUNDLED, latest, read_info
from imageflow.review.queue import ReviewQueue

DEFINITION = Path(__file__).resolve().parents[2] / "stepfunctions" / "retrain_model.asl.yml"
STAGE = "local"
ENDPOINT_NAME = "image-classifier-local"
POINTER_KEY = "review/datasets/latest.json"
LAST_RUN_KEY = "review/retrain/last-run.json"
BASELINE_KEY = "review/retrain/approved/model.tar.gz"
BASE_PREFIX = "review/datasets/base/"
TRAINING_ROLE_ARN = "arn:aws:iam::123456789012:role/imageflow-local-training"


@dataclass
class RetrainSettings:
    """The stage parameters of retraining (serverless.yml: retrainMinNewLabels, ...), for the local runtime."""

    min_new_labels: int = 0
    min_interval_minutes: float = 0.0
    poll_seconds: int = 1
    hyperparameters: dict[str, str] | None = None


@dataclass
class RetrainRun:
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    seconds: float
    history: list[dict[str, Any]]
    version: str | None = None


def _environment(bucket: str, topic_arn: str, settings: RetrainSettings) -> dict[str, str]:
    return {
        "IMAGES_BUCKET": bucket,
        "ALARM_TOPIC_ARN": topic_arn,
        "ENDPOINT_NAME": ENDPOINT_NAME,
        "RETRAIN_MIN_NEW_LABELS": str(settings.min_new_labels),
        "RETRAIN_MIN_INTERVAL_MINUTES": str(settings.min_interval_minutes),
        "RETRAIN_POLL_SECONDS": str(settings.poll_seconds),
        "RETRAIN_BASE_DATASET_PREFIX": BASE_PREFIX,
        "BASELINE_MODEL_DATA_URL": f"s3://{bucket}/{BASELINE_KEY}",
        "TRAINING_IMAGE": "imageflow:local",
        "INFERENCE_IMAGE": "imageflow:local",
        "TRAINING_INSTANCE_TYPE": "local",
        "INSTANCE_TYPE": "local",
        "INSTANCE_COUNT": "1",
        "CAPTURE_SAMPLING_PERCENTAGE": "100",
        "CAPTURE_DESTINATION": f"s3://{bucket}/data-capture",
        "TRAINING_JOB_PREFIX": "imageflow-retrain",
        "MODEL_PACKAGE_GROUP": "image-classifier",
        "TRAINING_ROLE_ARN": TRAINING_ROLE_ARN,
    }


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    import os

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _put_tree(s3: Any, bucket: str, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes())


def _tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            if path.name != "package.json":
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


NEGATIVES_PREFIX = "review/retrain/negatives/"


def seed(s3: Any, bucket: str, queue: ReviewQueue, registry: Any, negatives: Path | None = None) -> None:
    """Put the queue's dataset version, last run and the approved version where the state machine reads them."""
    dataset = latest(queue)
    if dataset is not None:
        info = read_info(dataset)
        prefix = f"review/datasets/{dataset.name}/"
        for channel in ("train", "train_lst"):
            _put_tree(s3, bucket, dataset / channel, f"{prefix}{channel}/")
        pointer = {"version": dataset.name, "prefix": prefix, "reviewed_images": str(info["reviewed_images"])}
        s3.put_object(Bucket=bucket, Key=POINTER_KEY, Body=json.dumps(pointer).encode(), Metadata=pointer)
    else:
        for channel in ("train", "train_lst"):
            _put_tree(s3, bucket, BUNDLED / channel, f"{BASE_PREFIX}{channel}/")
    if negatives is not None:
        _put_tree(s3, bucket, negatives, NEGATIVES_PREFIX)
    last = queue.root / "retrain" / "last-run.json"
    if last.is_file():
        record = {k: str(v) for k, v in json.loads(last.read_text(encoding="utf-8")).items()}
        s3.put_object(Bucket=bucket, Key=LAST_RUN_KEY, Body=last.read_bytes(), Metadata=record)
    approved = registry.approved()
    if approved is not None:
        registry.served_directory()  # model.onnx assembled if needed
        s3.put_object(Bucket=bucket, Key=BASELINE_KEY, Body=_tar(approved.directory))


def run_retrain(
    queue: ReviewQueue,
    settings: RetrainSettings,
    execution_input: dict[str, Any] | None = None,
    *,
    registry: Any = None,
    endpoint: Any = None,
    bridge_options: dict[str, Any] | None = None,
    negatives: Path | None = None,
) -> RetrainRun:
    """Start retrainModel in-process, wait for it, and return how it ended."""
    from imageflow.endpoint.service import LocalEndpoint
    from imageflow.registry.resolve import load_served_classifier
    from imageflow.registry.store import Registry
    from imageflow.runner.definition import load_definition, resolve_functions, to_json
    from imageflow.runner.workflow import ACCOUNT, LocalWorkflow

    registry = registry or Registry.open()
    endpoint = endpoint or LocalEndpoint(load_served_classifier(None), endpoint_name=ENDPOINT_NAME)
    with LocalWorkflow(endpoint, stage=STAGE) as workflow:
        session = boto3.DEFAULT_SESSION
        sdk_casing.register(session)
        sns = boto3.client("sns", region_name=workflow.region)
        topic_arn = sns.create_topic(Name=f"image-classification-{STAGE}-alarms")["TopicArn"]
        notifications = queue.root / "retrain" / "notifications.jsonl"
        notifications.parent.mkdir(parents=True, exist_ok=True)
        session.events.register("provide-client-params.sns.Publish", _keep_message(notifications))
        bridge = SageMakerBridge(
            workflow.s3, registry, region=workflow.region, endpoint_name=ENDPOINT_NAME, **(bridge_options or {})
        )
        bridge.listeners.append(_swap_model(endpoint))
        bridge.register(session)
        seed(workflow.s3, workflow.bucket, queue, registry, negatives)
        execution_input = {**(execution_input or {}), **({"negatives_prefix": NEGATIVES_PREFIX} if negatives else {})}
        name = f"image-classification-{STAGE}-retrain-model"
        function = f"arn:aws:lambda:{workflow.region}:{ACCOUNT}:function:image-classification-{STAGE}-retrainPolicy"
        references = {"retrainPolicy": function, "TrainingRole": TRAINING_ROLE_ARN}
        definition = resolve_functions(load_definition(DEFINITION), references.__getitem__)
        arn = workflow.sfn.create_state_machine(
            name=name, definition=to_json(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
        )["stateMachineArn"]
        started = time.perf_counter()
        with _env(_environment(workflow.bucket, topic_arn, settings)):
            execution = workflow.sfn.start_execution(
                stateMachineArn=arn, name=f"retrain-{int(time.time())}", input=json.dumps(execution_input)
            )["executionArn"]
            description = _wait(workflow.sfn, execution)
        seconds = time.perf_counter() - started
        history = workflow.history(execution)
        bridge.wait()
        with contextlib.suppress(Exception):
            body = workflow.s3.get_object(Bucket=workflow.bucket, Key=LAST_RUN_KEY)["Body"].read()
            if description["status"] == "SUCCEEDED":
                (queue.root / "retrain" / "last-run.json").write_bytes(body)
    output = json.loads(description["output"]) if description.get("output") else None
    version = None
    if output and output.get("model_package_arn"):
        version = output["model_package_arn"].rsplit("/", 1)[-1]
    return RetrainRun(
        description["status"], output, description.get("error"), description.get("cause"), seconds, history, version
    )


def _wait(sfn: Any, arn: str, timeout: float = 3600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"retrainModel execution still running after {timeout:.0f} s")
        time.sleep(0.5)


def _keep_message(path: Path) -> Any:
    def before_call(params: dict[str, Any], **_: Any) -> None:
        request = params
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **{k: request.get(k) for k in ("Subject", "Message")},
        }
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        return None  # moto's SNS still receives it

    return before_call


def _swap_model(endpoint: Any) -> Any:
    """A listener that points a running in-process endpoint at the newly deployed version."""

    def swap(directory: Path, version: str) -> None:
        from imageflow.endpoint.model import load_model_dir

        endpoint.classifier = load_model_dir(directory)

    return swap
