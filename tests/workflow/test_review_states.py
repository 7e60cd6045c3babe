"""The low-confidence path records the image for review before the execution fails (the real ASL on moto).

Assertions are on what Step Functions reports (status, error, cause, history) and on what lands under
``review/`` in the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import LocalEndpoint
from imageflow.review.layout import image_key, parse_record, record_key
from imageflow.review.local import keep_review_queue
from imageflow.review.queue import ReviewQueue
from imageflow.runner.botocore_hooks import error
from imageflow.runner.workflow import LocalWorkflow
from tests.helpers import make_noise_image

KEY = "incoming/noise photo.png"


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    return ImageClassifier.from_files()  # the ImageNet model: noise stays far below the threshold


@pytest.fixture
def workflow(classifier: ImageClassifier) -> Iterator[LocalWorkflow]:
    with LocalWorkflow(LocalEndpoint(classifier, endpoint_name="image-classifier-test")) as running:
        yield running


def _states(history: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def test_a_low_confidence_image_is_recorded_for_review_and_the_execution_still_fails(
    workflow: LocalWorkflow, tmp_path
) -> None:
    data = make_noise_image("PNG", (64, 64))
    workflow.put_image(KEY, data)
    etag = workflow.s3.head_object(Bucket=workflow.bucket, Key=KEY)["ETag"]
    result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": KEY}, name="low-1", with_history=True)

    assert (result.status, result.error) == ("FAILED", "THRESHOLD_CONFIDENCE_NOT_MET")
    assert (
        result.cause.startswith("THRESHOLD_CONFIDENCE_NOT_MET: best confidence")
        and "review record missing" not in result.cause
    )
    expected = ["ReadReviewSource", "CopyForReview", "BuildReviewRecord", "WriteReviewRecord", "LowConfidence"]
    assert _states(result.history)[-5:] == expected
    body = workflow.s3.get_object(Bucket=workflow.bucket, Key=record_key("low-1", KEY))["Body"].read()
    record = parse_record(json.loads(body), "record")
    assert (record.source_key, record.etag, record.copy_key) == (KEY, etag, image_key("low-1", KEY))
    assert record.execution_arn == result.arn and len(record.inferences) == 2 and record.label
    copy = workflow.s3.get_object(Bucket=workflow.bucket, Key=record.copy_key)["Body"].read()
    assert copy == data
    # the original may go; the queue (kept on disk after the run) still has the image
    workflow.s3.delete_object(Bucket=workflow.bucket, Key=KEY)
    queue = ReviewQueue(tmp_path / "queue")
    assert keep_review_queue(workflow, queue) == 1
    [kept] = queue.records()
    assert queue.image_path(kept).read_bytes() == data


def test_an_image_that_passes_leaves_no_review_record(workflow: LocalWorkflow, monkeypatch) -> None:
    monkeypatch.setenv("THRESHOLD", "0.0001")  # any best probability passes
    workflow.put_image(KEY, make_noise_image("PNG", (64, 64)))
    result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": KEY}, name="pass-1")
    assert result.status == "SUCCEEDED"
    assert workflow.s3.list_objects_v2(Bucket=workflow.bucket, Prefix="review/")["KeyCount"] == 0


def test_injected_fault_review_write_keeps_failing_then_the_cause_says_the_record_is_missing(
    workflow: LocalWorkflow,
) -> None:
    """A fault the local bucket cannot produce by itself: every PutObject under review/records/ is refused."""
    attempts: list[str] = []

    def refuse_record_writes(params: dict[str, Any], **_: Any) -> Any:
        key = params.get("context", {}).get("input_params", {}).get("Key", "")
        if key.startswith("review/records/"):
            attempts.append(key)
            response, parsed = error("ServiceUnavailable", "Please reduce your request rate.", 503)
            parsed["ResponseMetadata"]["RequestId"] = "injected-fault"  # as S3 always answers
            return response, parsed
        return None

    boto3.DEFAULT_SESSION.events.register("before-call.s3.PutObject", refuse_record_writes)
    workflow.put_image(KEY, make_noise_image("PNG", (64, 64)))
    result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": KEY}, name="low-2", timeout=120, with_history=True)

    assert (result.status, result.error) == ("FAILED", "THRESHOLD_CONFIDENCE_NOT_MET")
    assert (
        result.cause.startswith("THRESHOLD_CONFIDENCE_NOT_MET: best confidence")
        and "(review record missing:" in result.cause
    )
    assert len(attempts) == 4  # the first try and MaxAttempts (3) retries
    assert _states(result.history)[-2:] == ["DescribeReviewRecordMissing", "LowConfidenceReviewRecordMissing"]
