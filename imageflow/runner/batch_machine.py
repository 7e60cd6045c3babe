"""``imageflow run`` through classifyBatch: inputs are staged under a run prefix and classified by the batch
state machine (a Distributed Map), one batch execution per chunk; each image's outcome comes from the batch's
reconciled manifest.

The same loop serves the local runtime (``LocalBatchBackend``: moto in-process) and a deployed stage
(``AwsBatchBackend``); both stage, start, wait, read and clean up through a ``BatchBackend``. Chunks keep
memory flat however many images a run has (moto holds a map run's child histories until it ends) and give
the progress bar something to count; every input still ends in exactly one ``Outcome``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from handlers.common.inferences import parse_low_confidence_detail
from imageflow.runner.inputs import ImageInput
from imageflow.runner.results import ERROR, LOW_CONFIDENCE, OUTCOMES, Outcome, outcome_from_exception

DEFAULT_CHUNK = 250
RUNS_PREFIX = "runs"
MISSING_RESULT = "BatchResultMissing"


class BatchBackend(Protocol):
    """A bucket and a classifyBatch state machine."""

    bucket: str

    def put(self, key: str, data: bytes) -> None: ...

    def start(self, execution_input: Mapping[str, Any], name: str) -> str: ...

    def wait(self, arn: str) -> Mapping[str, Any]:
        """Wait for the execution to end; return its DescribeExecution answer."""
        ...

    def read(self, bucket: str, key: str) -> bytes: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def finish(self, arn: str) -> None:
        """Release what the execution holds (moto's memory)."""
        ...


def staged_key(run_id: str, chunk: int, index: int, item: ImageInput) -> str:
    """Where an input goes: its own folder per index keeps the real file name (spaces, ``+``, unicode) intact."""
    return f"{RUNS_PREFIX}/{run_id}/{chunk:04d}/{index:06d}/{item.name or 'object'}"


def outcome_from_line(source: str, s3_uri: str, line: Mapping[str, Any], execution_name: str) -> Outcome:
    """One manifest line as ``imageflow run`` reports it."""
    outcome = str(line.get("outcome"))
    result = Outcome(
        source=source,
        outcome=outcome if outcome in OUTCOMES else ERROR,
        s3_uri=s3_uri,
        error=line.get("error"),
        cause=line.get("cause"),
        execution_name=execution_name,
        execution_arn=line.get("execution"),
    )
    if isinstance(line.get("label"), str):
        result.label = line["label"]
    if isinstance(line.get("confidence"), int | float):
        result.confidence = float(line["confidence"])
    if isinstance(line.get("inferences"), list):
        result.inferences = [float(value) for value in line["inferences"]]
    if result.outcome == LOW_CONFIDENCE and isinstance(result.cause, str):
        # a failed child keeps only its cause, which names the best label and every probability
        label, confidence, inferences = parse_low_confidence_detail(result.cause)
        result.label, result.confidence, result.inferences = label, confidence, inferences
    return result


def read_manifest(backend: BatchBackend, description: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest lines a finished batch execution points to."""
    output = json.loads(description.get("output") or "{}")
    bucket, _, key = str(output["manifest"]).removeprefix("s3://").partition("/")
    text = backend.read(bucket, key).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_batch_chunks(
    backend: BatchBackend,
    inputs: Sequence[ImageInput],
    run_id: str,
    on_outcome: Callable[[int, Outcome], None],
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Classify every input through classifyBatch; call ``on_outcome(index, outcome)`` once per input."""
    delivered = 0
    for chunk, start in enumerate(range(0, len(inputs), max(1, chunk_size))):
        delivered += _run_chunk(
            backend, inputs, run_id, chunk, range(start, min(start + chunk_size, len(inputs))), on_outcome
        )
    return delivered


def _run_chunk(
    backend: BatchBackend,
    inputs: Sequence[ImageInput],
    run_id: str,
    chunk: int,
    indexes: range,
    on_outcome: Callable[[int, Outcome], None],
) -> int:
    prefix = f"{RUNS_PREFIX}/{run_id}/{chunk:04d}/"
    name = f"{run_id}-{chunk:04d}"
    staged: dict[int, str] = {}
    delivered = 0
    for index in indexes:
        item = inputs[index]
        key = staged_key(run_id, chunk, index, item)
        try:
            backend.put(key, item.read_bytes())
            staged[index] = key
        except Exception as exc:  # an unreadable input is its own outcome, not the run's end
            on_outcome(index, outcome_from_exception(item.source, exc))
            delivered += 1
    if not staged:
        return delivered
    arn: str | None = None
    started = time.perf_counter()
    try:
        arn = backend.start({"bucket": backend.bucket, "prefix": prefix}, name)
        description = backend.wait(arn)
        if description.get("status") != "SUCCEEDED":
            raise RuntimeError(
                f"batch {name} ended {description.get('status')}: {description.get('error')} {description.get('cause')}"
            )
        lines = {line["key"]: line for line in read_manifest(backend, description)}
        per_image = round((time.perf_counter() - started) / len(staged), 4)
        for index, key in staged.items():
            line = lines.get(key) or {"outcome": ERROR, "error": MISSING_RESULT, "cause": "not in the manifest"}
            outcome = outcome_from_line(
                inputs[index].source, f"s3://{backend.bucket}/{key}", line, f"{name}/{index:06d}"
            )
            outcome.duration_seconds = per_image  # the batch's wall time shared out: children run concurrently
            on_outcome(index, outcome)
            delivered += 1
    except Exception as exc:
        for index in staged:
            on_outcome(index, outcome_from_exception(inputs[index].source, exc, execution_name=name, execution_arn=arn))
            delivered += 1
    finally:
        for cleanup in (prefix, f"batch/ledger/{prefix}", f"batch/runs/{name}/"):
            with contextlib.suppress(Exception):  # best-effort: the outcomes are already delivered
                backend.delete_prefix(cleanup)
        if arn is not None:
            backend.finish(arn)
    return delivered


class LocalBatchBackend:
    """classifyBatch in the in-process local workflow (moto)."""

    def __init__(self, workflow: Any, *, timeout: float = 3600.0) -> None:
        from imageflow.motopatch.private import LocalS3
        from imageflow.runner.workflow import ACCOUNT

        self.workflow = workflow
        self.bucket = workflow.bucket
        self.timeout = timeout
        self._s3 = LocalS3(ACCOUNT)

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(self.bucket, key, data)

    def start(self, execution_input: Mapping[str, Any], name: str) -> str:
        return self.workflow.sfn.start_execution(
            stateMachineArn=self.workflow.batch_state_machine_arn, name=name, input=json.dumps(execution_input)
        )["executionArn"]

    def wait(self, arn: str) -> Mapping[str, Any]:
        from imageflow.motopatch import speed

        if not speed.wait_for_end(arn, self.timeout):
            raise TimeoutError(f"batch execution still running after {self.timeout:.0f} s")
        return self.workflow.describe_execution(arn)

    def read(self, bucket: str, key: str) -> bytes:
        found = self._s3.get_object(bucket, key)
        if found is None:
            raise FileNotFoundError(f"s3://{bucket}/{key}")
        return bytes(found[0])

    def delete_prefix(self, prefix: str) -> None:
        delete_prefix(self.workflow.s3, self.bucket, prefix)

    def finish(self, arn: str) -> None:
        self.workflow.forget(arn)
        # the batch is over and the next not started: nothing writes under review/ while it is listed
        self.workflow.move_review_queue()


def delete_prefix(s3_client: Any, bucket: str, prefix: str) -> None:
    """Delete every object under ``prefix`` (1,000 per request)."""
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def run_prefix_batch(
    backend: BatchBackend,
    bucket: str,
    prefix: str,
    indexes_by_key: Mapping[str, int],
    inputs: Sequence[ImageInput],
    name: str,
    on_outcome: Callable[[int, Outcome], None],
) -> int:
    """One classifyBatch execution over objects already in S3; an outcome for each of ``indexes_by_key``."""
    delivered = 0
    arn: str | None = None
    try:
        arn = backend.start({"bucket": bucket, "prefix": prefix}, name)
        description = backend.wait(arn)
        if description.get("status") != "SUCCEEDED":
            raise RuntimeError(
                f"batch {name} ended {description.get('status')}: {description.get('error')} {description.get('cause')}"
            )
        lines = {line["key"]: line for line in read_manifest(backend, description)}
        for key, index in indexes_by_key.items():
            line = lines.get(key) or {"outcome": ERROR, "error": MISSING_RESULT, "cause": "not in the manifest"}
            on_outcome(index, outcome_from_line(inputs[index].source, f"s3://{bucket}/{key}", line, name))
            delivered += 1
    except Exception as exc:
        for index in indexes_by_key.values():
            on_outcome(index, outcome_from_exception(inputs[index].source, exc, execution_name=name, execution_arn=arn))
            delivered += 1
    return delivered


class AwsBatchBackend:
    """A deployed classifyBatch (``imageflow run --aws s3://bucket/prefix/``)."""

    def __init__(
        self, sfn_client: Any, s3_client: Any, state_machine_arn: str, bucket: str, *, timeout: float = 86400.0
    ) -> None:
        self.sfn = sfn_client
        self.s3 = s3_client
        self.state_machine_arn = state_machine_arn
        self.bucket = bucket
        self.timeout = timeout

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def start(self, execution_input: Mapping[str, Any], name: str) -> str:
        return self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
        )["executionArn"]

    def wait(self, arn: str) -> Mapping[str, Any]:
        deadline = time.monotonic() + self.timeout
        delay = 0.2
        while True:
            description = self.sfn.describe_execution(executionArn=arn)
            if description["status"] != "RUNNING":
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch execution still running after {self.timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def read(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def delete_prefix(self, prefix: str) -> None:
        delete_prefix(self.s3, self.bucket, prefix)

    def finish(self, arn: str) -> None:
        return None
