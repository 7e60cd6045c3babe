"""The low-confidence path records the image for review before the execution fails (the real ASL on moto).

Assertions are on what Step Functions reports (status, error, cause, history) and on what lands under
``review/`` in the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import LocalEndpoint
from imageflow.review.layout import RECORDS_PREFIX, image_key, parse_record, record_key
from imageflow.review.local import keep_review_queue
from imageflow.review.queue import ReviewQueue
from imageflow.runner.batch import run_batch
from imageflow.runner.batch_machine import LocalBatchBackend, run_batch_chunks
from imageflow.runner.botocore_hooks import error
from imageflow.runner.inputs import ImageInput
from imageflow.runner.results import Outcome
from imageflow.runner.targets import LocalTarget
from imageflow.runner.workflow import LocalWorkflow
from tests.helpers import SAMPLES, make_noise_image

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
    queue = workflow.review_queue = ReviewQueue(tmp_path / "queue")
    assert keep_review_queue(workflow) == 1
    [kept] = queue.records()
    assert queue.image_path(kept).read_bytes() == data
    # moved, not copied: the in-memory bucket holds nothing under review/ any more
    assert workflow.s3.list_objects_v2(Bucket=workflow.bucket, Prefix="review/")["KeyCount"] == 0


def test_an_image_that_passes_leaves_no_review_record(workflow: LocalWorkflow) -> None:
    # a real photo the model is sure of at the default threshold (random noise, with the lowest threshold
    # allowed, did not always pass: its best probability can fall below 1e-4)
    key = "incoming/motorcycle photo.png"
    workflow.put_image(key, (SAMPLES / "motorcycle_left.png").read_bytes())
    result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": key}, name="pass-1")
    assert result.status == "SUCCEEDED", result.cause
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


def _inputs(folder: Path, images: dict[str, bytes]) -> list[ImageInput]:
    folder.mkdir()
    for name, data in images.items():
        (folder / name).write_bytes(data)
    return [ImageInput(str(folder / name), path=folder / name) for name in images]


def _review_records_in_bucket(workflow: LocalWorkflow) -> int:
    return workflow.s3.list_objects_v2(Bucket=workflow.bucket, Prefix=RECORDS_PREFIX)["KeyCount"]


def _kept_images(queue: ReviewQueue) -> list[bytes]:
    return sorted(queue.image_path(record).read_bytes() for record in queue.records())


def test_the_per_image_runner_moves_each_review_entry_to_the_queue_as_its_execution_ends(
    workflow: LocalWorkflow, tmp_path: Path
) -> None:
    """Review copies must not stay in the in-memory bucket for the whole run: memory would grow with the run."""
    noise = {f"noise-{i}.png": make_noise_image("PNG", (48 + i, 48)) for i in range(3)}
    images = {**noise, "motorcycle.png": (SAMPLES / "motorcycle_left.png").read_bytes()}  # passes: nothing to move
    queue = workflow.review_queue = ReviewQueue(tmp_path / "queue")
    in_bucket_when_delivered: list[int] = []
    outcomes: dict[str, str] = {}

    def on_outcome(index: int, outcome: Outcome) -> None:
        in_bucket_when_delivered.append(_review_records_in_bucket(workflow))
        outcomes[Path(outcome.source).name] = outcome.outcome

    run_batch(LocalTarget(workflow, "run1"), _inputs(tmp_path / "in", images), "run1", on_outcome, concurrency=2)

    assert outcomes == {**dict.fromkeys(noise, "low_confidence"), "motorcycle.png": "passed"}
    assert max(in_bucket_when_delivered) <= 1  # at most the other execution's, still in flight
    assert workflow.s3.list_objects_v2(Bucket=workflow.bucket, Prefix="review/")["KeyCount"] == 0
    assert workflow.review_records_moved == 3
    assert _kept_images(queue) == sorted(noise.values())


def test_the_batch_runner_moves_review_entries_to_the_queue_after_each_batch(
    workflow: LocalWorkflow, tmp_path: Path
) -> None:
    """`imageflow run` offline: the bucket holds at most one batch's review entries at any time."""
    noise = {f"noise-{i}.png": make_noise_image("PNG", (40 + i, 40)) for i in range(5)}
    queue = workflow.review_queue = ReviewQueue(tmp_path / "queue")
    in_bucket_when_delivered: list[int] = []

    def on_outcome(index: int, outcome: Outcome) -> None:
        assert outcome.outcome == "low_confidence", outcome
        in_bucket_when_delivered.append(_review_records_in_bucket(workflow))

    inputs = _inputs(tmp_path / "in", noise)
    assert run_batch_chunks(LocalBatchBackend(workflow), inputs, "run2", on_outcome, chunk_size=2) == 5

    # outcomes are delivered before their batch is finished: the entries of that batch only, none before it
    assert in_bucket_when_delivered == [2, 2, 2, 2, 1]
    assert workflow.s3.list_objects_v2(Bucket=workflow.bucket, Prefix="review/")["KeyCount"] == 0
    assert keep_review_queue(workflow) == 5
    assert _kept_images(queue) == sorted(noise.values())
