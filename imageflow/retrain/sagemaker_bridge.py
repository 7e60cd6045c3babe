"""The SageMaker control plane of the retrainModel state machine, done for real on this machine.

moto records ``CreateTrainingJob`` and answers ``Completed`` at once without training anything, has no
``UpdateEndpoint``, and keeps model packages apart from the project's registry. The state machine's
``aws-sdk:sagemaker:*`` tasks call boto3; this bridge answers those calls (botocore ``before-call`` hooks on
the session the interpreter uses, as ``endpoint_bridge`` does for the runtime) with real work:

* ``CreateTrainingJob`` runs the training container's entry (``python -m imageflow.training.container``, what
  ``imageflow-container train`` runs) in its own process, on a SageMaker-shaped folder whose channels are
  downloaded from the (moto) S3 URIs of the request; the model folder goes back to S3 as
  ``<S3OutputPath>/<job>/output/model.tar.gz``. ``DescribeTrainingJob`` reports ``InProgress`` until the
  process ends, then ``Completed`` with ``ModelArtifacts`` and ``FinalMetricDataList`` (the request's
  ``MetricDefinitions`` applied to the job's log), or ``Failed`` with ``output/failure`` as ``FailureReason``.
* ``CreateModelPackage`` / ``UpdateModelPackage`` register the artifact in the local model registry and set
  its approval status (approving makes it the served version).
* ``CreateModel``, ``CreateEndpointConfig`` are recorded; ``UpdateEndpoint`` loads the new model (the
  deployment) and, if it loads, switches the endpoint (and every listener, e.g. a running local endpoint) to
  it; if it does not, the endpoint stays ``InService`` on its previous configuration with a
  ``FailureReason``, as SageMaker rolls back a failed update. ``DescribeEndpoint`` reports that state.

One class, used by the in-process runtime (``imageflow retrain``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageflow.runner.botocore_hooks import error as _error
from imageflow.runner.botocore_hooks import success
from imageflow.s3uri import split_s3_uri as parse_s3_uri

ACCOUNT = "123456789012"


@dataclass
class TrainingJob:
    name: str
    request: dict[str, Any]
    created: datetime
    status: str = "InProgress"
    failure: str | None = None
    artifact: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    ended: datetime | None = None


class SageMakerBridge:
    """Answer the retrainModel state machine's SageMaker calls with local training, registry and endpoint."""

    OPERATIONS = (
        "CreateTrainingJob",
        "DescribeTrainingJob",
        "CreateModelPackage",
        "UpdateModelPackage",
        "CreateModel",
        "CreateEndpointConfig",
        "UpdateEndpoint",
        "DescribeEndpoint",
    )

    def __init__(
        self,
        s3_client: Any,
        registry: Any,
        *,
        region: str = "us-east-1",
        endpoint_name: str = "image-classifier-local",
        work_dir: Path | None = None,
        loader: Callable[[Path], Any] | None = None,
    ) -> None:
        from imageflow.endpoint.model import load_model_dir

        self.s3 = s3_client
        self.registry = registry
        self.region = region
        self.jobs: dict[str, TrainingJob] = {}
        self.package_versions: dict[str, str] = {}  # ModelPackageArn -> registry version
        self.url_versions: dict[str, str] = {}  # ModelDataUrl -> registry version
        self.models: dict[str, str] = {}  # model name -> ModelDataUrl
        self.configs: dict[str, str] = {}  # endpoint config name -> model name
        self.endpoint = {"EndpointName": endpoint_name, "EndpointConfigName": "initial", "EndpointStatus": "InService"}
        self.listeners: list[Callable[[Path, str], None]] = []
        self.loader = loader or load_model_dir
        self._work = Path(work_dir or tempfile.mkdtemp(prefix="imageflow-sagemaker-"))
        self._threads: list[threading.Thread] = []

    def register(self, session: Any) -> None:
        for operation in self.OPERATIONS:
            session.events.register(f"before-call.sagemaker.{operation}", getattr(self, f"_{operation}"))

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name}"

    @staticmethod
    def _input(params: dict[str, Any]) -> dict[str, Any]:
        return params.get("context", {}).get("input_params") or json.loads(params.get("body") or "{}")

    # -- training -------------------------------------------------------------------------------------

    def _CreateTrainingJob(self, params: dict[str, Any], **_: Any) -> Any:
        request = self._input(params)
        name = request["TrainingJobName"]
        if name in self.jobs:
            return error("ResourceInUse", f"Training job {name} already exists", 400)
        job = self.jobs[name] = TrainingJob(name, request, datetime.now(UTC))
        thread = threading.Thread(target=self._run_job, args=(job,), name=f"training-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return success({"TrainingJobArn": self._arn("training-job", name)})

    def _run_job(self, job: TrainingJob) -> None:
        root = self._work / job.name
        try:
            for channel in job.request.get("InputDataConfig", []):
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                self._download(uri, root / "input" / "data" / channel["ChannelName"])
            config = root / "input" / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "hyperparameters.json").write_text(json.dumps(job.request.get("HyperParameters") or {}))
            log = root / "output" / "training.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w", encoding="utf-8") as handle:
                code = subprocess.call(
                    [sys.executable, "-m", "imageflow.training.container", "--root", str(root)],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            text = log.read_text(encoding="utf-8", errors="replace")
            job.metrics = _final_metrics(job.request["AlgorithmSpecification"].get("MetricDefinitions", []), text)
            if code != 0:
                failure = root / "output" / "failure"
                reason = failure.read_text(encoding="utf-8").strip() if failure.is_file() else f"exit status {code}"
                job.status, job.failure = "Failed", reason[:1024]
                return
            output = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            job.artifact = f"{output}/{job.name}/output/model.tar.gz"
            self._upload_tree(root / "model", job.artifact)
            job.status = "Completed"
        except Exception as exc:  # the job fails, the state machine reports it; the bridge must not die
            job.status, job.failure = "Failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.ended = datetime.now(UTC)

    def _download(self, uri: str, target: Path) -> None:
        bucket, prefix = parse_s3_uri(uri)
        target.mkdir(parents=True, exist_ok=True)
        found = False
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                found = True
        if not found:
            raise FileNotFoundError(f"no objects under {uri}")

    def _upload_tree(self, folder: Path, uri: str) -> None:
        archive = folder.parent / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(folder.iterdir()):
                tar.add(path, arcname=path.name)
        bucket, key = parse_s3_uri(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=archive.read_bytes())

    def _DescribeTrainingJob(self, params: dict[str, Any], **_: Any) -> Any:
        name = self._input(params)["TrainingJobName"]
        job = self.jobs.get(name)
        if job is None:
            return error("ValidationException", f"Requested resource not found: training job {name}", 400)
        answer: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": self._arn("training-job", name),
            "TrainingJobStatus": job.status,
            "SecondaryStatus": {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed"}[job.status],
            "CreationTime": job.created,
            "AlgorithmSpecification": job.request["AlgorithmSpecification"],
            "HyperParameters": job.request.get("HyperParameters") or {},
            "ModelArtifacts": {"S3ModelArtifacts": job.artifact or ""},
            "FinalMetricDataList": job.metrics,
        }
        if job.failure:
            answer["FailureReason"] = job.failure
        if job.ended:
            answer["TrainingEndTime"] = job.ended
        return success(answer)

    # -- registry -------------------------------------------------------------------------------------

    def _CreateModelPackage(self, params: dict[str, Any], **_: Any) -> Any:
        from imageflow.registry.store import PENDING

        request = self._input(params)
        url = request["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        folder = self._work / "packages" / re.sub(r"[^A-Za-z0-9]+", "-", url)[-80:]
        folder.mkdir(parents=True, exist_ok=True)
        bucket, key = parse_s3_uri(url)
        archive = folder.parent / (folder.name + ".tar.gz")
        archive.write_bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        metrics = _registry_metrics(request.get("CustomerMetadataProperties") or {}, url)
        package = self.registry.register(
            folder,
            status=PENDING,
            reason=request.get("ModelPackageDescription", "registered by retrainModel"),
            metrics=metrics,
        )
        arn = self._arn("model-package", f"{request['ModelPackageGroupName']}/{package.version}")
        self.package_versions[arn] = package.version
        self.url_versions[url] = package.version
        return success({"ModelPackageArn": arn})

    def _UpdateModelPackage(self, params: dict[str, Any], **_: Any) -> Any:
        request = self._input(params)
        arn = request["ModelPackageArn"]
        version = self.package_versions.get(arn) or arn.rsplit("/", 1)[-1]
        self.registry.set_status(version, request["ModelApprovalStatus"], request.get("ApprovalDescription", ""))
        return success({"ModelPackageArn": arn})

    # -- serving --------------------------------------------------------------------------------------

    def _CreateModel(self, params: dict[str, Any], **_: Any) -> Any:
        request = self._input(params)
        self.models[request["ModelName"]] = request["PrimaryContainer"]["ModelDataUrl"]
        return success({"ModelArn": self._arn("model", request["ModelName"])})

    def _CreateEndpointConfig(self, params: dict[str, Any], **_: Any) -> Any:
        request = self._input(params)
        self.configs[request["EndpointConfigName"]] = request["ProductionVariants"][0]["ModelName"]
        return success({"EndpointConfigArn": self._arn("endpoint-config", request["EndpointConfigName"])})

    def _UpdateEndpoint(self, params: dict[str, Any], **_: Any) -> Any:
        request = self._input(params)
        config = request["EndpointConfigName"]
        if config not in self.configs:
            return error("ValidationException", f"Could not find endpoint configuration {config}", 400)
        url = self.models.get(self.configs[config], "")
        version = self.url_versions.get(url)
        try:
            if version is None:
                raise FileNotFoundError(f"{url} is not a registered model package artifact")
            directory = self.registry.get(version).directory
            self.loader(directory)  # the deployment: the model must load before traffic moves to it
            for listener in self.listeners:
                listener(directory, version)
        except Exception as exc:
            # SageMaker rolls a failed update back: InService on the previous configuration, with the reason.
            self.endpoint["FailureReason"] = f"the model of {config} could not be deployed: {type(exc).__name__}: {exc}"
        else:
            self.endpoint.pop("FailureReason", None)
            self.endpoint["EndpointConfigName"] = config
        return success({"EndpointArn": self._arn("endpoint", self.endpoint["EndpointName"])})

    def _DescribeEndpoint(self, params: dict[str, Any], **_: Any) -> Any:
        name = self._input(params)["EndpointName"]
        if name != self.endpoint["EndpointName"]:
            return error("ValidationException", f"Could not find endpoint {name}", 400)
        return success({**self.endpoint, "EndpointArn": self._arn("endpoint", name), "CreationTime": datetime.now(UTC)})


def error(code: str, message: str, status: int) -> Any:
    """A SageMaker error answer; with a request id, which moto's interpreter reads when it names the error."""
    response, parsed = _error(code, message, status)
    parsed["ResponseMetadata"]["RequestId"] = "local-sagemaker-bridge"
    return response, parsed


def _final_metrics(definitions: list[dict[str, str]], log: str) -> list[dict[str, Any]]:
    """SageMaker's FinalMetricDataList: each definition's regex, last match in the log."""
    found = []
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            found.append(
                {"MetricName": definition["Name"], "Value": float(matches[-1]), "Timestamp": datetime.now(UTC)}
            )
    return found


def _registry_metrics(properties: dict[str, str], url: str) -> dict[str, Any]:
    """The package's metrics as the local registry lists them (``validation``, and the approved version's)."""
    sides: dict[str, dict[str, Any]] = {"validation": {}, "baseline": {}}
    for key, value in properties.items():
        side, _, name = key.partition(":")
        if side in sides:
            sides[side][name] = int(float(value)) if name == "images" else float(value)
    metrics: dict[str, Any] = {"validation": sides["validation"], "model_data_url": url}
    if sides["baseline"]:
        metrics["approved_version_on_same_validation"] = sides["baseline"]
    metrics["validation_images"] = sides["validation"].get("images")
    return metrics
