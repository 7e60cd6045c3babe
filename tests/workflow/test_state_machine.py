"""The real ASL file executed by moto's interpreter, its tasks running the real handlers.

Assertions are on what Step Functions reports: execution status, output, error, cause and
history. The endpoint is the real local model; faults are injected by wrapping it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import EndpointError, LocalEndpoint, ModelError
from imageflow.runner.workflow import ExecutionResult, LocalWorkflow
from tests.helpers import SAMPLES, make_noise_image


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    return ImageClassifier.from_files()


@pytest.fixture
def endpoint(classifier: ImageClassifier) -> LocalEndpoint:
    return LocalEndpoint(classifier, endpoint_name="image-classifier-test")


class FaultyEndpoint:
    """The real endpoint, preceded by scripted failures (faults the real model does not produce)."""

    def __init__(self, real: LocalEndpoint, failures: list[EndpointError]) -> None:
        self.real = real
        self.failures = failures
        self.calls = 0
        self.endpoint_name = real.endpoint_name
        self.variant_name = real.variant_name

    def invoke(self, *args: Any, **kwargs: Any) -> bytes:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.real.invoke(*args, **kwargs)


@pytest.fixture
def run_image() -> Iterator[Any]:
    workflows: list[LocalWorkflow] = []

    def run(endpoint: Any, key: str, data: bytes | None, **options: Any) -> ExecutionResult:
        workflow = LocalWorkflow(endpoint, **options)
        workflows.append(workflow)
        workflow.__enter__()
        if data is not None:
            workflow.put_image(key, data)
        return workflow.run({"s3_bucket": workflow.bucket, "s3_key": key}, name="test", with_history=True)

    yield run
    for workflow in workflows:
        workflow.__exit__(None, None, None)


def _states_entered(result: ExecutionResult) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"] for event in result.history if "stateEnteredEventDetails" in event
    ]


def _event_types(result: ExecutionResult) -> list[str]:
    return [event["type"] for event in result.history]


def test_a_confident_motorcycle_succeeds_with_its_prediction(endpoint: LocalEndpoint, run_image: Any) -> None:
    result = run_image(endpoint, "moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
    assert result.status == "SUCCEEDED", result.cause
    body = result.output["body"]
    assert result.output["statusCode"] == 200
    assert body["label"] == "motorcycle" and body["confidence"] >= 0.73
    assert body["inferences"][1] == body["confidence"] and len(body["inferences"]) == 2
    assert "image_data" not in body and "image_ref" not in body
    assert _states_entered(result) == ["Correlate", "Serialize", "Classify", "Threshold"]
    assert _event_types(result)[-1] == "ExecutionSucceeded"


def test_a_small_image_travels_inline_and_succeeds(endpoint: LocalEndpoint, run_image: Any) -> None:
    result = run_image(endpoint, "bike.jpg", (SAMPLES / "bicycle_crop.png").read_bytes())
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["body"]["label"] == "bicycle"


def test_a_low_confidence_image_fails_with_THRESHOLD_CONFIDENCE_NOT_MET(
    endpoint: LocalEndpoint, run_image: Any
) -> None:
    result = run_image(endpoint, "cat.png", (SAMPLES / "chelsea.png").read_bytes())
    assert result.status == "FAILED"
    assert result.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert result.cause.startswith("THRESHOLD_CONFIDENCE_NOT_MET: best confidence 0.")
    assert "below the threshold 0.73 for s3://" in result.cause
    assert _states_entered(result)[-1] == "LowConfidence"
    assert _event_types(result)[-1] == "ExecutionFailed"


def test_the_threshold_stage_parameter_reaches_the_workflow(endpoint: LocalEndpoint, run_image: Any) -> None:
    result = run_image(endpoint, "moto.png", (SAMPLES / "motorcycle_left.png").read_bytes(), threshold=0.999)
    assert result.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert "threshold 0.999" in result.cause


def test_a_throttled_endpoint_is_retried_then_succeeds(endpoint: LocalEndpoint, run_image: Any) -> None:
    throttled = EndpointError("Rate exceeded", code="ThrottlingException", http_status=400)
    faulty = FaultyEndpoint(endpoint, [throttled, throttled])
    result = run_image(faulty, "moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
    assert result.status == "SUCCEEDED", result.cause
    assert faulty.calls == 3
    failed_attempts = [e for e in result.history if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed_attempts] == ["EndpointThrottledError"] * 2
    assert _states_entered(result) == ["Correlate", "Serialize", "Classify", "Threshold"]


def test_a_permanent_endpoint_error_fails_with_its_own_name_without_retry(
    endpoint: LocalEndpoint, run_image: Any
) -> None:
    faulty = FaultyEndpoint(endpoint, [ModelError("model crashed on this input", original_status_code=500)])
    result = run_image(faulty, "moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
    assert result.status == "FAILED"
    assert result.error == "EndpointModelError"
    assert "model crashed on this input" in result.cause
    assert "Traceback" not in result.cause and "stackTrace" not in result.cause
    assert faulty.calls == 1
    assert _states_entered(result)[-1] == "HandlerFailed"


def test_a_missing_endpoint_fails_with_EndpointNotFoundError(classifier: ImageClassifier, run_image: Any) -> None:
    # The workflow's ENDPOINT_NAME names an endpoint the local runtime does not serve.
    workflow_endpoint = FaultyEndpoint(LocalEndpoint(classifier, endpoint_name="another-endpoint"), [])
    workflow_endpoint.endpoint_name = "image-classifier-missing"
    result = run_image(workflow_endpoint, "moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
    assert result.error == "EndpointNotFoundError"
    assert "image-classifier-missing" in result.cause


def test_a_missing_object_fails_with_ImageNotFoundError(endpoint: LocalEndpoint, run_image: Any) -> None:
    result = run_image(endpoint, "missing.png", None)
    assert result.status == "FAILED"
    assert result.error == "ImageNotFoundError"
    assert result.cause.startswith("No object s3://") and result.cause.endswith("/missing.png")
    assert _states_entered(result) == ["Correlate", "Serialize", "DescribeHandlerFailure", "HandlerFailed"]


def test_a_non_image_fails_with_NotAnImageError(endpoint: LocalEndpoint, run_image: Any) -> None:
    result = run_image(endpoint, "notes.txt", b"these are notes, not pixels")
    assert (result.status, result.error) == ("FAILED", "NotAnImageError")


def test_a_malformed_input_fails_with_InvalidEventError(endpoint: LocalEndpoint) -> None:
    with LocalWorkflow(endpoint) as workflow:
        result = workflow.run({"bucket": "b"}, name="malformed")
    assert (result.status, result.error) == ("FAILED", "InvalidEventError")
    assert "missing the key 's3_bucket'" in result.cause


def test_a_10_mb_image_goes_by_claim_check_and_every_state_stays_small(endpoint: LocalEndpoint, run_image: Any) -> None:
    data = make_noise_image("PNG", (1900, 1900))
    assert len(data) > 10 * 1024 * 1024
    result = run_image(endpoint, "huge.png", data)
    assert result.status == "FAILED" and result.error == "THRESHOLD_CONFIDENCE_NOT_MET", result.cause
    for event in result.history:
        for details in event.values():
            if isinstance(details, dict) and isinstance(details.get("output"), str):
                assert len(details["output"]) < 256 * 1024
    assert max(len(json.dumps(event, default=str)) for event in result.history) < 256 * 1024


def test_concurrent_executions_each_end_in_their_own_outcome(
    endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many executions in flight at once: handlers run concurrently in one process, so any state
    # they share (Powertools' process-wide metric set, log keys) must not leak between them.
    # A short GIL switch interval makes the threads interleave inside the handlers.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    images = {
        "moto.png": ("SUCCEEDED", None),
        "bike.png": ("SUCCEEDED", None),
        "cat.png": ("FAILED", "THRESHOLD_CONFIDENCE_NOT_MET"),
    }
    files = {"moto.png": "motorcycle_right.png", "bike.png": "bicycle_crop.png", "cat.png": "chelsea.png"}
    with LocalWorkflow(endpoint) as workflow:
        for key, sample in files.items():
            workflow.put_image(key, (SAMPLES / sample).read_bytes())
        started = [
            (key, workflow.start({"s3_bucket": workflow.bucket, "s3_key": key}, name=f"many-{n}-{key[:4]}"))
            for n in range(12)
            for key in images
        ]
        try:
            outcomes = [(key, workflow.wait(arn)) for key, arn in started]
        finally:
            sys.setswitchinterval(previous)
    for key, result in outcomes:
        assert (result.status, result.error) == images[key], result.cause
