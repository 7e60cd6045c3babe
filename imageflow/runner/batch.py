"""Run many images through a state machine, a bounded number at a time.

``run_batch`` is the same for the local runtime and for AWS: a ``Target`` stores an input
where the state machine can read it, starts one execution, waits for it and cleans up.
Each input is handled by one worker from start to outcome, so every input yields exactly
one ``Outcome`` (an exception in this program becomes an ``error`` outcome for that input,
never a lost image), and at most ``concurrency`` images' bytes are in memory at once.

Locally, concurrency is what makes the workflow fast: onnxruntime and Pillow's decoders
release the GIL, so while one execution is inside the model, the interpreter and the
handlers of the others run on the other core.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from imageflow.runner.inputs import ImageInput, execution_name
from imageflow.runner.results import (
    LOW_CONFIDENCE_ERROR,
    PASSED,
    Outcome,
    outcome_from_exception,
    outcome_from_execution,
)


@dataclass(frozen=True)
class Staged:
    """Where an input was put for the state machine, and whether to delete it afterwards."""

    bucket: str
    key: str
    temporary: bool = False

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Target(Protocol):
    """A state machine and the bucket it reads images from."""

    def stage(self, index: int, item: ImageInput) -> Staged: ...

    def start(self, execution_input: Mapping[str, Any], name: str) -> str: ...

    def describe(self, arn: str) -> Mapping[str, Any]:
        """Wait for the execution to end and return its ``DescribeExecution`` answer."""
        ...

    def history(self, arn: str) -> Sequence[Mapping[str, Any]]: ...

    def finish(self, arn: str | None, staged: Staged, passed: bool) -> None:
        """Release what the execution left behind (memory, temporary objects, a review entry unless it passed)."""
        ...


def process_one(target: Target, run_id: str, index: int, item: ImageInput) -> Outcome:
    """Stage, execute and interpret one input; never raises."""
    name = execution_name(run_id, index, item)
    staged: Staged | None = None
    arn: str | None = None
    outcome: Outcome | None = None
    started = time.perf_counter()
    try:
        staged = target.stage(index, item)
        arn = target.start({"s3_bucket": staged.bucket, "s3_key": staged.key}, name)
        description = target.describe(arn)
        history = target.history(arn) if description.get("error") == LOW_CONFIDENCE_ERROR else None
        outcome = outcome_from_execution(item.source, staged.uri, description, history)
    except Exception as exc:  # any failure of ours is this image's outcome, not the run's end
        outcome = outcome_from_exception(
            item.source,
            exc,
            s3_uri=staged.uri if staged else None,
            execution_name=name,
            execution_arn=arn,
        )
    finally:
        if staged is not None:
            # cleanup is best-effort: the outcome is already known
            with contextlib.suppress(Exception):
                # an execution that passed never reached the review states: nothing of it to move
                target.finish(arn, staged, passed=outcome is not None and outcome.outcome == PASSED)
    assert outcome is not None  # set by the try or the except above
    if outcome.duration_seconds is None:
        outcome.duration_seconds = round(time.perf_counter() - started, 4)
    return outcome


def run_batch(
    target: Target,
    inputs: Sequence[ImageInput],
    run_id: str,
    on_outcome: Callable[[int, Outcome], None],
    *,
    concurrency: int = 4,
) -> int:
    """Run every input; call ``on_outcome(index, outcome)`` (serialised) as each finishes.

    Returns the number of outcomes delivered, always ``len(inputs)``.
    """
    lock = threading.Lock()
    delivered = 0

    def work(index: int, item: ImageInput) -> None:
        nonlocal delivered
        outcome = process_one(target, run_id, index, item)
        with lock:
            delivered += 1
            on_outcome(index, outcome)

    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="imageflow-run") as pool:
        # a bounded window of submitted work: a million inputs do not become a million futures
        window = max(1, concurrency) * 2
        pending: set[Any] = set()
        for index, item in enumerate(inputs):
            pending.add(pool.submit(work, index, item))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # re-raises only a failure of on_outcome itself
        for future in pending:
            future.result()
    return delivered
