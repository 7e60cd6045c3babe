"""execution_result_written_before_status: a poller never sees an ended execution without its result."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from imageflow.motopatch import private, speed

ROLE = "arn:aws:iam::123456789012:role/results-test"


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every attribute write to any execution, in order (recorded, then written as usual)."""
    recorded: list[tuple[str, Any]] = []

    def record(execution: Any, name: str, value: Any) -> None:
        recorded.append((name, value))
        object.__setattr__(execution, name, value)

    monkeypatch.setattr(private.SFN_EXECUTION.load(), "__setattr__", record, raising=False)
    return recorded


def _run(sfn: Any, name: str, states: dict[str, Any]) -> dict[str, Any]:
    definition = json.dumps({"StartAt": next(iter(states)), "States": states})
    machine = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"image": "cat.png"}))["executionArn"]
    assert speed.wait_for_end(arn, 30)
    return sfn.describe_execution(executionArn=arn)


def _position(writes: list[tuple[str, Any]], name: str, value: Any = None) -> int:
    matches = [i for i, (written, v) in enumerate(writes) if written == name and (value is None or v == value)]
    assert matches, f"no write of {name} {value or ''} among {[written for written, _ in writes]}"
    return matches[-1]


def test_a_succeeded_execution_has_its_output_before_its_status(sfn: Any, writes: list[tuple[str, Any]]) -> None:
    described = _run(sfn, "succeeds", {"Done": {"Type": "Pass", "Result": {"label": "bicycle"}, "End": True}})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"label": "bicycle"}
    # stock moto 5.2.5 writes the status first, then deep-copies the final state into the output
    assert _position(writes, "output") < _position(writes, "exec_status", "SUCCEEDED")


def test_a_failed_execution_has_its_error_and_cause_before_its_status(sfn: Any, writes: list[tuple[str, Any]]) -> None:
    described = _run(sfn, "fails", {"Stop": {"Type": "Fail", "Error": "THRESHOLD_CONFIDENCE_NOT_MET", "Cause": "0.41"}})
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "THRESHOLD_CONFIDENCE_NOT_MET",
        "0.41",
    )
    status = _position(writes, "exec_status", "FAILED")
    assert _position(writes, "error") < status
    assert _position(writes, "cause") < status
    assert _position(writes, "stop_date") < status


def test_a_tight_poller_never_reads_an_ended_execution_without_its_output(sfn: Any) -> None:
    # the race itself, no injection: a poller in a tight loop, thread switches every 10 us, and an output
    # large enough (about 90 KB) that copying it takes many switches. Stock moto 5.2.5 answered SUCCEEDED
    # without output for 148 of 150 such executions; with the patch, for none.
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="polled", definition=definition, roleArn=ROLE)["stateMachineArn"]
    large = {"items": [{"n": n, "label": "bicycle" * 3} for n in range(3000)]}
    seen = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for n in range(4):
            started = sfn.start_execution(stateMachineArn=machine, name=f"polled-{n}", input=json.dumps(large))
            arn = started["executionArn"]
            deadline = time.monotonic() + 60  # a hung execution fails the test instead of spinning for ever
            while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                assert time.monotonic() < deadline, f"{arn} still running"
            seen.append((described["status"], json.loads(described.get("output") or "null") == large))
    finally:
        sys.setswitchinterval(interval)
    assert seen == [("SUCCEEDED", True)] * 4
