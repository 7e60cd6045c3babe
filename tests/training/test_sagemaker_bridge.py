"""The retrainModel state machine's SageMaker calls, answered by the local bridge (boto3 calls, real registry).

An endpoint update deploys the new version without a restart; a version that cannot be deployed leaves the
previous one serving, as SageMaker rolls a failed update back.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imageflow.endpoint.model import MODEL_FILE
from imageflow.registry.store import APPROVED, ZERO_SHOT, Registry
from imageflow.retrain.sagemaker_bridge import SageMakerBridge, _final_metrics

BUCKET = "imageflow-bridge-test"


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[tuple[Any, Any, SageMakerBridge, list[str]]]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        bridge = SageMakerBridge(s3, Registry.open(tmp_path / "registry"), work_dir=tmp_path / "work")
        served: list[str] = []
        bridge.listeners.append(lambda directory, version: served.append(version))
        bridge.register(session)
        yield s3, session.client("sagemaker"), bridge, served


def _package(s3: Any, sagemaker: Any, name: str, directory: Path, broken: bool = False) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in directory.iterdir():
            if path.name == MODEL_FILE and broken:
                data = b"not an onnx model"
                info = tarfile.TarInfo(MODEL_FILE)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif path.name != "package.json":
                tar.add(path, arcname=path.name)
    url = f"s3://{BUCKET}/models/{name}/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=f"models/{name}/output/model.tar.gz", Body=buffer.getvalue())
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="image-classifier",
        ModelPackageDescription=f"{name} for the test",
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"validation:accuracy": "0.95", "baseline:accuracy": "0.7"},
        InferenceSpecification={
            "Containers": [{"Image": "imageflow:local", "ModelDataUrl": url}],
            "SupportedContentTypes": ["image/png"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="test")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/training",
        PrimaryContainer={"Image": "imageflow:local", "ModelDataUrl": url},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    return arn


def test_an_approved_package_is_registered_and_an_update_switches_the_endpoint(aws) -> None:
    s3, sagemaker, bridge, served = aws
    arn = _package(s3, sagemaker, "imageflow-retrain-1", bridge.registry.get(ZERO_SHOT).directory)
    version = arn.rsplit("/", 1)[-1]
    package = bridge.registry.get(version)
    assert package.status == APPROVED and package.record["ModelMetrics"]["validation"]["accuracy"] == 0.95
    sagemaker.update_endpoint(EndpointName="image-classifier-local", EndpointConfigName="imageflow-retrain-1")
    endpoint = sagemaker.describe_endpoint(EndpointName="image-classifier-local")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "imageflow-retrain-1")
    assert "FailureReason" not in endpoint and served == [version]


def test_a_failed_update_leaves_the_previous_version_serving(aws) -> None:
    s3, sagemaker, bridge, served = aws
    zero_shot = bridge.registry.get(ZERO_SHOT).directory
    _package(s3, sagemaker, "imageflow-retrain-1", zero_shot)
    sagemaker.update_endpoint(EndpointName="image-classifier-local", EndpointConfigName="imageflow-retrain-1")
    _package(s3, sagemaker, "imageflow-retrain-2", zero_shot, broken=True)
    sagemaker.update_endpoint(EndpointName="image-classifier-local", EndpointConfigName="imageflow-retrain-2")
    endpoint = sagemaker.describe_endpoint(EndpointName="image-classifier-local")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "imageflow-retrain-1")
    assert "could not be deployed" in endpoint["FailureReason"] and len(served) == 1


def test_final_metrics_take_each_definitions_last_value() -> None:
    log = "validation:accuracy=0.5;\nvalidation:accuracy=0.93;\nbaseline:accuracy=0.77;\n"
    found = _final_metrics(
        [{"Name": n, "Regex": f"{n}=([0-9.]+)"} for n in ("validation:accuracy", "baseline:accuracy", "x:y")], log
    )
    assert [(m["MetricName"], m["Value"]) for m in found] == [
        ("validation:accuracy", 0.93),
        ("baseline:accuracy", 0.77),
    ]
