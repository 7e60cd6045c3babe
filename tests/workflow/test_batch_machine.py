"""classifyBatch (stepfunctions/classify_batch.asl.yml) on moto's interpreter, in-process, with the real handlers
and model: one reconciled manifest line per listed object, awkward keys intact, and a rerun after an
interruption that neither redoes nor double-counts work.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import LocalEndpoint
from imageflow.motopatch import speed
from imageflow.runner.workflow import LocalWorkflow
from tests.helpers import SAMPLES

pytestmark = pytest.mark.slow

MOTORCYCLE = (SAMPLES / "motorcycle_left.png").read_bytes()
CAT = (SAMPLES / "chelsea.png").read_bytes()
# keys as users name files: spaces, a literal +, %, unicode, a deep path
AWKWARD = {
    "in/red flower+1.png": MOTORCYCLE,
    "in/100% sure.png": CAT,
    "in/ünïcödé 写真.png": MOTORCYCLE,
    "in/a/b/c/d/deep path.png": CAT,
    "in/notes.txt": b"not an image\n",
    "in/empty.png": b"",
    "in/cut.png": MOTORCYCLE[:300],
}
EXPECTED = {
    "in/red flower+1.png": ("passed", None),
    "in/100% sure.png": ("low_confidence", "THRESHOLD_CONFIDENCE_NOT_MET"),
    "in/ünïcödé 写真.png": ("passed", None),
    "in/a/b/c/d/deep path.png": ("low_confidence", "THRESHOLD_CONFIDENCE_NOT_MET"),
    "in/notes.txt": ("error", "NotAnImageError"),
    "in/empty.png": ("error", "EmptyImageError"),
    "in/cut.png": ("error", "CorruptImageError"),
}


class CountingEndpoint:
    """The real endpoint, counting model calls; ``after_call`` runs after each (the interruption hook)."""

    def __init__(self, real: LocalEndpoint) -> None:
        self.real = real
        self.calls = 0
        self.lock = threading.Lock()
        self.after_call: Any = None
        self.endpoint_name = real.endpoint_name
        self.variant_name = real.variant_name

    def invoke(self, *args: Any, **kwargs: Any) -> bytes:
        answer = self.real.invoke(*args, **kwargs)
        with self.lock:
            self.calls += 1
            calls = self.calls
        if self.after_call is not None:
            self.after_call(calls)
        return answer


@pytest.fixture
def workflow() -> Iterator[tuple[LocalWorkflow, CountingEndpoint]]:
    endpoint = CountingEndpoint(LocalEndpoint(ImageClassifier.from_files(), endpoint_name="image-classifier-test"))
    with LocalWorkflow(endpoint, batch_concurrency=2) as flow:
        yield flow, endpoint


def _start(flow: LocalWorkflow, name: str, prefix: str = "in/") -> str:
    return flow.sfn.start_execution(
        stateMachineArn=flow.batch_state_machine_arn, name=name, input=json.dumps({"prefix": prefix})
    )["executionArn"]


def _finish(flow: LocalWorkflow, arn: str) -> dict[str, Any]:
    assert speed.wait_for_end(arn, 300), "batch still running"
    return flow.sfn.describe_execution(executionArn=arn)


def _manifest(flow: LocalWorkflow, description: dict[str, Any]) -> list[dict[str, Any]]:
    output = json.loads(description["output"])
    bucket, _, key = output["manifest"].removeprefix("s3://").partition("/")
    body = flow.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines()]


def test_a_batch_writes_one_reconciled_line_per_listed_object_with_its_outcome(
    workflow: tuple[LocalWorkflow, CountingEndpoint],
) -> None:
    flow, _ = workflow
    for key, data in AWKWARD.items():
        flow.put_image(key, data)
    description = _finish(flow, _start(flow, "batch-1"))
    assert description["status"] == "SUCCEEDED", description.get("cause")
    lines = _manifest(flow, description)
    assert sorted(line["key"] for line in lines) == sorted(AWKWARD)  # the real keys, each exactly once
    for line in lines:
        assert (line["outcome"], line.get("error")) == EXPECTED[line["key"]], line
    passed = next(line for line in lines if line["key"] == "in/red flower+1.png")
    assert passed["label"] == "motorcycle" and passed["confidence"] >= 0.73 and len(passed["inferences"]) == 2
    summary = json.loads(description["output"])["summary"]
    assert summary["reconciled"] is True
    assert (summary["listed"], summary["passed"], summary["low_confidence"], summary["error"]) == (7, 2, 2, 3)
    assert summary["errors"] == {"CorruptImageError": 1, "EmptyImageError": 1, "NotAnImageError": 1}
    # the ResultWriter's own files are in place, as AWS writes them
    listed = {o["Key"] for o in flow.s3.list_objects_v2(Bucket=flow.bucket, Prefix="batch/runs/batch-1/")["Contents"]}
    assert any(key.endswith("/SUCCEEDED_0.json") for key in listed)
    assert "batch/runs/batch-1/summary.json" in listed


def test_a_rerun_after_an_interruption_neither_redoes_nor_double_counts_work(
    workflow: tuple[LocalWorkflow, CountingEndpoint],
) -> None:
    flow, endpoint = workflow
    images = {f"in/img {index:02d}.png": (MOTORCYCLE if index % 2 else CAT) for index in range(12)}
    for key, data in images.items():
        flow.put_image(key, data)
    first: dict[str, str] = {}

    def interrupt(calls: int) -> None:
        if calls == 4:  # StopExecution while the map run is under way, as a user (or a crash) would
            flow.sfn.stop_execution(executionArn=first["arn"], error="Interrupted", cause="test")

    endpoint.after_call = interrupt
    first["arn"] = _start(flow, "interrupted")
    stopped = _finish(flow, first["arn"])
    endpoint.after_call = None
    assert stopped["status"] == "ABORTED"
    done_before = endpoint.calls
    ledger = flow.s3.list_objects_v2(Bucket=flow.bucket, Prefix="batch/ledger/in/").get("Contents", [])
    done = {item["Key"].removeprefix("batch/ledger/").removesuffix(".json") for item in ledger}
    assert 1 <= len(done) < len(images), f"{len(done)} images recorded done after the interruption"

    # one image changes while the batch is down: its new ETag must be classified again
    flow.put_image("in/img 00.png", MOTORCYCLE)
    endpoint.calls = 0
    rerun = _finish(flow, _start(flow, "rerun"))
    assert rerun["status"] == "SUCCEEDED", rerun.get("cause")
    lines = _manifest(flow, rerun)
    assert sorted(line["key"] for line in lines) == sorted(images)  # every image once: nothing lost or doubled
    reused = {line["key"] for line in lines if line.get("reused")}
    assert reused == done - {"in/img 00.png"}  # done before, same ETag: not classified again
    assert endpoint.calls == len(images) - len(reused)  # only the unfinished and the changed image ran
    summary = json.loads(rerun["output"])["summary"]
    assert summary["reconciled"] and summary["reused"] == len(reused)
    assert summary["passed"] + summary["low_confidence"] + summary["error"] == len(images)
    assert next(line for line in lines if line["key"] == "in/img 00.png")["outcome"] == "passed"
    print(
        f"interrupted after {done_before} model calls, {len(done)} images recorded done; "
        f"rerun reused {len(reused)}, classified {endpoint.calls}, manifest lines {len(lines)}"
    )


@pytest.mark.parametrize(
    ("key", "data", "status", "error"),
    [
        ("incoming/day 1/moto+left 100% é.png", MOTORCYCLE, "SUCCEEDED", None),
        ("incoming/notes.txt", b"not an image\n", "FAILED", "NotAnImageError"),
    ],
)
def test_a_simulated_upload_event_starts_the_per_image_machine_with_the_real_key(
    workflow: tuple[LocalWorkflow, CountingEndpoint], key: str, data: bytes, status: str, error: str | None
) -> None:
    from imageflow.batch.upload_rule import execution_input, execution_name, load_rule, object_created_event

    flow, _ = workflow
    flow.put_image(key, data)
    etag = flow.s3.head_object(Bucket=flow.bucket, Key=key)["ETag"]
    event = object_created_event(flow.bucket, key, size=len(data), etag=etag)
    execution = execution_input(load_rule(flow.bucket, "incoming/"), event)
    assert execution == {"s3_bucket": flow.bucket, "s3_key": key}
    result = flow.run(execution, name=execution_name(key))
    assert (result.status, result.error) == (status, error)  # every object ends in one recorded outcome
    if status == "SUCCEEDED":
        assert result.output["body"]["s3_key"] == key  # serialize read the real key
    else:
        assert key in (result.cause or "")
