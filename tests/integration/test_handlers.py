"""Each handler against moto S3 and a SageMaker runtime reached through the real boto3 client."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers import classify, serialize, threshold
from handlers.common.errors import (
    BucketNotFoundError,
    CorruptImageError,
    DecompressionBombError,
    EmptyImageError,
    EndpointModelError,
    EndpointNotFoundError,
    EndpointThrottledError,
    EndpointUnavailableError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidEndpointResponseError,
    InvalidEventError,
    InvalidImageDataError,
    InvalidInferencesError,
    NotAnImageError,
    ProbabilityOutOfRangeError,
    ThresholdConfidenceNotMetError,
)
from handlers.common.inferences import parse_low_confidence_detail
from tests.helpers import make_image, make_noise_image, png_header_only
from tests.integration.scripted_endpoint import fault, ok, scripted_endpoint

BUCKET = "images"
STEP_FUNCTIONS_STATE_LIMIT = 256 * 1024


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def serialized(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return serialize.handler({"s3_bucket": BUCKET, "s3_key": key}, None)


# -- serialize ---------------------------------------------------------------------------------
def test_serialize_returns_the_original_shape_with_base64_data(s3: Any) -> None:
    data = make_image("PNG", (32, 32))
    result = serialized(s3, "a/b.png", data)
    assert result["statusCode"] == 200
    body = result["body"]
    assert base64.b64decode(body["image_data"]) == data
    assert (body["s3_bucket"], body["s3_key"], body["inferences"], body["content_type"]) == (
        BUCKET,
        "a/b.png",
        [],
        "image/png",
    )


@pytest.mark.parametrize("megabytes", [0.5, 3, 10])
def test_serialize_keeps_the_state_under_256_kib_for_large_images(s3: Any, megabytes: float) -> None:
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1  # incompressible RGB noise: ~3 bytes a pixel
    data = make_noise_image("PNG", (side, side))
    assert len(data) >= megabytes * 1024 * 1024
    result = serialized(s3, "big.png", data)
    assert len(json.dumps(result)) < STEP_FUNCTIONS_STATE_LIMIT
    assert "image_data" not in result["body"]
    assert result["body"]["image_ref"]["s3_key"] == "big.png"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyImageError),
        (b"%PDF-1.4 not an image", NotAnImageError),
        (make_noise_image("JPEG", (64, 64))[:900], CorruptImageError),
        (png_header_only(30_000, 30_000), DecompressionBombError),
    ],
    # named by the error: the noise image differs per process, and xdist needs the same ids in every worker
    ids=["EmptyImageError", "NotAnImageError", "CorruptImageError", "DecompressionBombError"],
)
def test_serialize_rejects_bad_objects_by_name(s3: Any, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"s3://{BUCKET}/bad"):
        serialized(s3, "bad", data)


def test_serialize_rejects_an_oversized_object_without_reading_it(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IMAGE_BYTES", "1000")
    with pytest.raises(ImageTooLargeError, match="above the limit of 1,000 bytes"):
        serialized(s3, "big.png", make_noise_image("PNG", (64, 64)))


def test_serialize_names_a_missing_key_and_a_missing_bucket(s3: Any) -> None:
    with pytest.raises(ImageNotFoundError, match=f"No object s3://{BUCKET}/nope.png"):
        serialize.handler({"s3_bucket": BUCKET, "s3_key": "nope.png"}, None)
    with pytest.raises(BucketNotFoundError, match="'no-such-bucket' does not exist"):
        serialize.handler({"s3_bucket": "no-such-bucket", "s3_key": "x.png"}, None)


def test_serialize_rejects_an_image_outside_the_stages_bucket(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGES_BUCKET", "stage-images")
    with pytest.raises(InvalidEventError, match="not in this stage's images bucket 'stage-images'"):
        serialized(s3, "a.png", make_image())


def test_serialize_rejects_a_malformed_event(s3: Any) -> None:
    with pytest.raises(InvalidEventError, match="missing the key 's3_key'"):
        serialize.handler({"s3_bucket": BUCKET}, None)


# -- classify ----------------------------------------------------------------------------------
@pytest.fixture
def endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", "image-classifier")


def _point_runtime_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", url)


def test_classify_sends_the_image_and_records_probabilities(
    s3: Any, endpoint_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_image("JPEG")
    event = serialized(s3, "x.jpg", data)
    with scripted_endpoint(ok([0.1, 0.85])) as (url, script):
        _point_runtime_at(url, monkeypatch)
        result = classify.handler(event, None)
    path, content_type, body = script.requests[0]
    assert (path, content_type, body) == ("/endpoints/image-classifier/invocations", "image/jpeg", data)
    assert result["body"]["inferences"] == [0.1, 0.85]
    assert (result["body"]["label"], result["body"]["confidence"]) == ("motorcycle", 0.85)
    assert "image_data" not in result["body"], "the inline image is dropped once used"


def test_classify_fetches_a_claim_checked_image_itself(
    s3: Any, endpoint_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_noise_image("PNG", (400, 400))
    event = serialized(s3, "big.png", data)
    with scripted_endpoint(ok([0.9, 0.05])) as (url, script):
        _point_runtime_at(url, monkeypatch)
        result = classify.handler(event, None)
    assert script.requests[0][2] == data
    assert "image_ref" not in result["body"]


def test_classify_refuses_an_image_replaced_after_serialize(
    s3: Any, endpoint_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = serialized(s3, "big.png", make_noise_image("PNG", (400, 400)))
    s3.put_object(Bucket=BUCKET, Key="big.png", Body=make_noise_image("PNG", (400, 400)))
    with pytest.raises(ImageNotFoundError, match="changed after it was serialized"):
        classify.handler(event, None)


def test_classify_shrinks_images_over_the_endpoint_limit(
    s3: Any, endpoint_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENDPOINT_MAX_PAYLOAD_BYTES", "200000")
    event = serialized(s3, "big.png", make_noise_image("PNG", (600, 600)))
    with scripted_endpoint(ok([0.9, 0.05])) as (url, script):
        _point_runtime_at(url, monkeypatch)
        classify.handler(event, None)
    _, content_type, body = script.requests[0]
    assert content_type == "image/jpeg" and len(body) <= 200_000


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (fault(424, "ModelError", "Received client error (400): cannot decode"), EndpointModelError, "cannot decode"),
        (
            fault(400, "ValidationError", "Endpoint image-classifier of account 123 not found."),
            EndpointNotFoundError,
            "not found",
        ),
        (fault(400, "ThrottlingException", "Rate exceeded"), EndpointThrottledError, "throttled"),
        (fault(503, "ServiceUnavailable", "model not ready"), EndpointUnavailableError, "unavailable"),
        (fault(500, "InternalFailure", "boom"), EndpointUnavailableError, "unavailable"),
        (ok({"predictions": [0.1]}), InvalidEndpointResponseError, "must be a list"),
        (ok([0.2, float("nan")]), InvalidEndpointResponseError, "not a probability"),
        (ok([0.2, 1.5]), InvalidEndpointResponseError, "not a probability"),
        (ok([0.2, 0.3, 0.5]), InvalidEndpointResponseError, "3 probabilities but there are 2 labels"),
    ],
)
def test_classify_raises_endpoint_failures_by_name(
    s3: Any,
    endpoint_env: None,
    monkeypatch: pytest.MonkeyPatch,
    reply: Any,
    error: type[Exception],
    message: str,
) -> None:
    event = serialized(s3, "x.png", make_image())
    with scripted_endpoint(reply) as (url, _):
        _point_runtime_at(url, monkeypatch)
        with pytest.raises(error, match=message):
            classify.handler(event, None)


def test_classify_names_an_unreachable_endpoint_as_unavailable(
    s3: Any, endpoint_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = serialized(s3, "x.png", make_image())
    _point_runtime_at("http://127.0.0.1:9", monkeypatch)  # discard port: nothing listens
    with pytest.raises(EndpointUnavailableError, match="Could not reach endpoint"):
        classify.handler(event, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image_data": "not base64!!"}, "not valid base64"),
        ({"image_data": ""}, "non-empty base64"),
        ({"image_data": 42}, "non-empty base64"),
        ({}, "neither 'image_data' nor 'image_ref'"),
    ],
)
def test_classify_rejects_bad_image_data(endpoint_env: None, body: dict[str, Any], message: str) -> None:
    event = {"statusCode": 200, "body": {"s3_bucket": BUCKET, "s3_key": "k", **body}}
    with pytest.raises(InvalidImageDataError, match=message):
        classify.handler(event, None)


# -- threshold ---------------------------------------------------------------------------------
def _classified(inferences: object) -> dict[str, Any]:
    return {"statusCode": 200, "body": {"s3_bucket": BUCKET, "s3_key": "k.png", "inferences": inferences}}


def test_threshold_passes_a_confident_result_on() -> None:
    result = threshold.handler(_classified([0.05, 0.93]), None)
    assert result["statusCode"] == 200
    assert (result["body"]["label"], result["body"]["confidence"]) == ("motorcycle", 0.93)


def test_threshold_fails_a_low_confidence_result_naming_best_and_threshold() -> None:
    with pytest.raises(ThresholdConfidenceNotMetError) as caught:
        threshold.handler(_classified([0.41, 0.2]), None)
    assert str(caught.value) == (
        "THRESHOLD_CONFIDENCE_NOT_MET: best confidence 0.4100 (bicycle) is below the threshold 0.73 for s3://images/k.png"
        "; probabilities [0.41, 0.2]"
    )
    assert parse_low_confidence_detail(str(caught.value)) == ("bicycle", 0.41, [0.41, 0.2])


def test_threshold_honours_a_configured_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHOLD", "0.4")
    assert threshold.handler(_classified([0.41, 0.2]), None)["body"]["label"] == "bicycle"


@pytest.mark.parametrize(
    ("inferences", "error"),
    [
        (None, InvalidInferencesError),
        ([], InvalidInferencesError),
        (["0.9", 0.1], InvalidInferencesError),
        ([0.9], InvalidInferencesError),
        ([1.7, 0.1], ProbabilityOutOfRangeError),
        ([-0.1, 0.9], ProbabilityOutOfRangeError),
    ],
)
def test_threshold_validates_what_it_compares(inferences: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        threshold.handler(_classified(inferences), None)


def test_threshold_requires_inferences() -> None:
    event = {"statusCode": 200, "body": {"s3_bucket": BUCKET, "s3_key": "k.png"}}
    with pytest.raises(InvalidInferencesError, match="has no 'inferences'"):
        threshold.handler(event, None)
