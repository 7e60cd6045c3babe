"""LocalEndpoint.invoke: SageMaker runtime's request checks and error types, without any transport."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imageflow.endpoint.capture import DataCaptureWriter, LocalDirectoryDestination
from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import MAX_PAYLOAD_BYTES, LocalEndpoint, ModelError, ValidationError

NAME = "unit-endpoint"


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    return ImageClassifier.from_files(threads=1)


@pytest.fixture
def endpoint(classifier: ImageClassifier, tmp_path: Path) -> Iterator[LocalEndpoint]:
    capture = DataCaptureWriter(LocalDirectoryDestination(tmp_path), NAME, max_age_seconds=0)
    ep = LocalEndpoint(classifier, NAME, capture=capture)
    yield ep
    ep.close()


def png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buf, "PNG")
    return buf.getvalue()


def test_invoke_returns_json_probabilities_in_label_order(endpoint: LocalEndpoint, tmp_path: Path) -> None:
    body = endpoint.invoke(NAME, png(), "image/png", accept="application/json", inference_id="i-1")
    probs = json.loads(body)
    assert len(probs) == len(endpoint.classifier.labels) == 2
    assert all(0.0 <= p <= 1.0 for p in probs)
    endpoint.close()
    (capture_file,) = tmp_path.rglob("*.jsonl")
    record = json.loads(capture_file.read_text())
    assert record["captureData"]["endpointOutput"]["data"] == body.decode()
    assert record["eventMetadata"]["inferenceId"] == "i-1"


def test_unknown_endpoint_is_a_validation_error(endpoint: LocalEndpoint) -> None:
    with pytest.raises(ValidationError) as info:
        endpoint.invoke("other", png(), "image/png")
    err = info.value
    assert (err.code, err.http_status) == ("ValidationError", 400)
    assert err.message == "Endpoint other of account 123456789012 not found."


@pytest.mark.parametrize(
    ("content_type", "accept", "status", "fragment"),
    [
        ("text/plain", None, 415, "Unsupported content type 'text/plain'"),
        ("", None, 415, "Unsupported content type '(none)'"),
        ("image/png", "text/csv", 406, "Unsupported accept 'text/csv'"),
    ],
)
def test_unsupported_media_types_are_model_errors(
    endpoint: LocalEndpoint, content_type: str, accept: str | None, status: int, fragment: str
) -> None:
    with pytest.raises(ModelError) as info:
        endpoint.invoke(NAME, png(), content_type, accept=accept)
    err = info.value
    assert (err.code, err.http_status, err.original_status_code) == ("ModelError", 424, status)
    assert fragment in err.message and fragment in err.original_message


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png; charset=binary", "application/x-image"])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json, text/plain"])
def test_accepted_media_types(endpoint: LocalEndpoint, content_type: str, accept: str | None) -> None:
    assert json.loads(endpoint.invoke(NAME, png(), content_type, accept=accept))


@pytest.mark.parametrize("body", [b"", b"hello", png()[:50]], ids=["empty", "text", "truncated"])
def test_undecodable_body_is_a_model_error_and_not_captured(
    endpoint: LocalEndpoint, tmp_path: Path, body: bytes
) -> None:
    with pytest.raises(ModelError) as info:
        endpoint.invoke(NAME, body, "image/png")
    assert info.value.original_status_code == 400
    assert "image" in info.value.original_message
    endpoint.close()
    assert not list(tmp_path.rglob("*.jsonl"))


def test_payload_over_the_sagemaker_limit_is_rejected(endpoint: LocalEndpoint) -> None:
    with pytest.raises(ValidationError, match="exceeds the InvokeEndpoint limit"):
        endpoint.invoke(NAME, b"\0" * (MAX_PAYLOAD_BYTES + 1), "image/png")


def test_error_bodies_carry_botocore_fields(endpoint: LocalEndpoint) -> None:
    with pytest.raises(ModelError) as info:
        endpoint.invoke(NAME, b"x", "image/png")
    body = info.value.to_body()
    assert body["__type"] == "ModelError"
    assert body["message"] == info.value.message
    assert body["OriginalStatusCode"] == 400
    assert str(body["LogStreamArn"]).startswith("arn:aws:logs:")


def test_invalid_endpoint_name_is_refused_at_construction(classifier: ImageClassifier) -> None:
    with pytest.raises(ValueError, match="invalid SageMaker endpoint name"):
        LocalEndpoint(classifier, "under_score")
