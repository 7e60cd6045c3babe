"""The local endpoint over HTTP, called by the REAL boto3 sagemaker-runtime client; capture lands in moto S3."""

from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from imageflow.endpoint import cli as endpoint_cli
from imageflow.endpoint.capture import DataCaptureWriter, S3Destination
from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.server import EndpointServer, start_server
from imageflow.endpoint.service import LocalEndpoint

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ENDPOINT = "image-classifier-test"
BUCKET = "capture-bucket"
PREFIX = "datacapture"
THRESHOLD = 0.73
FAKE_CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def classifier() -> ImageClassifier:
    return ImageClassifier.from_files()


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", **FAKE_CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    yield client
    moto.stop()


@pytest.fixture(scope="module")
def server(classifier: ImageClassifier, s3: Any) -> Iterator[EndpointServer]:
    capture = DataCaptureWriter(S3Destination(BUCKET, PREFIX, s3), ENDPOINT, max_age_seconds=0.5)
    srv = start_server(LocalEndpoint(classifier, ENDPOINT, capture=capture), port=0)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def runtime(server: EndpointServer) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=server.url, config=NO_RETRIES, **FAKE_CREDENTIALS)


def invoke(runtime: Any, sample: str, **kwargs: Any) -> list[float]:
    path = SAMPLES / sample
    content_type = "image/png" if path.suffix == ".png" else "image/jpeg"
    response = runtime.invoke_endpoint(
        EndpointName=ENDPOINT, Body=path.read_bytes(), ContentType=content_type, Accept="application/json", **kwargs
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    return json.loads(response["Body"].read())


@pytest.mark.parametrize("sample", ["motorcycle_left.png", "motorcycle_right.png"])
def test_motorcycle_photos_are_confident_motorcycles(runtime: Any, sample: str) -> None:
    bicycle, motorcycle = invoke(runtime, sample)
    assert motorcycle >= THRESHOLD
    assert bicycle < 0.05


def test_bicycle_photo_is_a_confident_bicycle(runtime: Any) -> None:
    bicycle, motorcycle = invoke(runtime, "bicycle_crop.png")
    assert bicycle >= THRESHOLD
    assert motorcycle < 0.05


@pytest.mark.parametrize("sample", ["chelsea.png", "coffee.png", "dog.jpg", "grace_hopper.jpg"])
def test_non_vehicle_photos_stay_below_threshold(runtime: Any, sample: str) -> None:
    assert all(p < THRESHOLD for p in invoke(runtime, sample))


def test_non_image_body_is_a_model_error_and_the_server_keeps_serving(runtime: Any) -> None:
    with pytest.raises(runtime.exceptions.ModelError) as info:
        runtime.invoke_endpoint(
            EndpointName=ENDPOINT, Body=b"%PDF-1.7 definitely not an image", ContentType="image/png"
        )
    error = info.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert "cannot decode the request body as an image" in error["Error"]["Message"]
    assert error["OriginalStatusCode"] == 400
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert invoke(runtime, "motorcycle_right.png")[1] >= THRESHOLD  # still serving


def test_unsupported_content_type_is_a_model_error(runtime: Any) -> None:
    with pytest.raises(runtime.exceptions.ModelError, match="Unsupported content type 'text/csv'"):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"1,2,3", ContentType="text/csv")


def test_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(runtime.exceptions.ValidationError) as info:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"x", ContentType="image/png")
    assert info.value.response["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_endpoint_url_from_environment(server: EndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # how the handlers reach it: no endpoint_url in code, only boto3's standard environment variable
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    client = boto3.client("sagemaker-runtime", config=NO_RETRIES, **FAKE_CREDENTIALS)
    assert invoke(client, "motorcycle_left.png")[1] >= THRESHOLD


def test_concurrent_invocations(runtime: Any) -> None:
    samples = ["motorcycle_left.png", "chelsea.png", "bicycle_crop.png", "coffee.png"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda s: invoke(runtime, s), samples))
    by_sample = dict(zip(samples, results, strict=True))
    assert by_sample["motorcycle_left.png"][1] >= THRESHOLD
    assert by_sample["bicycle_crop.png"][0] >= THRESHOLD


def test_capture_records_in_sagemaker_format(runtime: Any, server: EndpointServer, s3: Any) -> None:
    inference_id = f"it-{uuid.uuid4()}"
    body = (SAMPLES / "motorcycle_left.png").read_bytes()
    # records of its own before the one it checks: batching must show whichever tests ran first on this server
    for _ in range(2):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="image/png")["Body"].read()
    response = runtime.invoke_endpoint(
        EndpointName=ENDPOINT, Body=body, ContentType="image/png", InferenceId=inference_id
    )
    output = response["Body"].read().decode()
    assert server.endpoint.capture is not None
    server.endpoint.capture.flush()

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["Contents"]]
    layout = re.compile(rf"^{PREFIX}/{ENDPOINT}/AllTraffic/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/[\w-]+\.jsonl$")
    assert keys and all(layout.match(k) for k in keys), keys
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
    ]
    (record,) = [r for r in records if r["eventMetadata"].get("inferenceId") == inference_id]
    assert record["eventVersion"] == "0"
    endpoint_input = record["captureData"]["endpointInput"]
    assert (endpoint_input["observedContentType"], endpoint_input["mode"], endpoint_input["encoding"]) == (
        "image/png",
        "INPUT",
        "BASE64",
    )
    assert base64.b64decode(endpoint_input["data"]) == body
    assert record["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": output,
        "encoding": "JSON",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["eventMetadata"]["inferenceTime"])
    # batched: far fewer files than records
    assert len(keys) < len(records)


def test_ping_and_unknown_routes(server: EndpointServer) -> None:
    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/nope", timeout=5)
    assert info.value.code == 404


def test_serve_reports_a_port_in_use_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        parser = argparse.ArgumentParser()
        endpoint_cli.register(parser.add_subparsers())
        args = parser.parse_args(["serve", "--port", str(port)])
        assert args.func(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"imageflow serve: port {port} on 127.0.0.1 is already in use (choose another with --port)"
