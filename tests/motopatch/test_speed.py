"""The speed-up patches (imageflow/motopatch/speed.py): each keeps moto's behaviour, and relies on what it says.

The patches are process-wide; the comparison with an unpatched moto therefore runs each side in a process
of its own (``tests/motopatch/scenario.py``).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imageflow.motopatch import index, private, speed
from tests.helpers import REPO_ROOT
from tests.motopatch.scenario import DEFINITION, EXECUTIONS, UNPATCHED

ROLE = "arn:aws:iam::123456789012:role/speed-test"


@pytest.fixture(autouse=True)
def _patched() -> None:
    index.apply(index.IN_PROCESS)


@functools.cache  # the unpatched run serves both runtimes' comparisons (read, never changed)
def _scenario(mode: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.motopatch.scenario", mode],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    assert completed.returncode == 0, f"the {mode} scenario failed: {last_line}"
    return json.loads(completed.stdout)


@pytest.mark.parametrize("runtime", sorted(index.BOTH))
def test_concurrent_executions_of_one_program_match_an_unpatched_run(runtime: str) -> None:
    # shared_parsed_program and cached_jsonpath_parse, with each runtime's whole patch set: eight executions
    # of one definition at once, with Map (3 iterations at a time), Parallel, Choice, Catch and intrinsic
    # functions, on one shared parsed program, record the same histories and outputs as stock moto
    unpatched, patched = _scenario(UNPATCHED), _scenario(runtime)
    assert len(patched) == EXECUTIONS
    for name, expected in unpatched.items():
        assert patched[name] == expected, name
    assert {result["status"] for result in patched.values()} == {"SUCCEEDED"}
    assert json.loads(patched["run-2"]["output"])["caught"] == {"Error": "SmallNumber", "Cause": "n is small"}
    assert json.loads(patched["run-5"]["output"])["fan"][1] == "big"


def test_the_program_is_parsed_once_per_definition() -> None:
    definition = json.dumps(DEFINITION)
    assert speed.parsed_program(definition) is speed.parsed_program(definition)


def _pass_machine(sfn: Any, name: str, wait_seconds: float = 0) -> str:
    states: dict[str, Any] = {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}
    if wait_seconds:
        states["Pause"] = {"Type": "Wait", "Seconds": wait_seconds, "Next": "Done"}
    definition = {"StartAt": "Pause" if wait_seconds else "Done", "States": states}
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def test_the_end_signal_comes_after_the_final_status(sfn: Any) -> None:
    machine = _pass_machine(sfn, "end-signal", wait_seconds=1)
    arn = sfn.start_execution(stateMachineArn=machine, name="first", input="{}")["executionArn"]
    assert not speed.wait_for_end(arn, 0)  # still in its Wait state
    assert speed.wait_for_end(arn, 30)
    assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"  # no poll needed


def test_a_restarted_execution_arn_gets_a_fresh_end_signal() -> None:
    # a new mock_aws reuses the ARN of an execution of the same name: its waiter must not see the old end
    for round_number in range(2):
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            client = boto3.client("stepfunctions", region_name="us-east-1")
            machine = _pass_machine(client, "restart", wait_seconds=1)
            arn = client.start_execution(stateMachineArn=machine, name="same", input="{}")["executionArn"]
            assert not speed.wait_for_end(arn, 0), f"round {round_number} saw an end before its own"
            assert speed.wait_for_end(arn, 30)


def test_finished_executions_leave_no_threads_listed(sfn: Any) -> None:
    threads = private.SFN_TMP_THREADS.load()
    machine = _pass_machine(sfn, "threads")
    before = len(threads)
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"t{n}", input="{}")["executionArn"] for n in range(6)]
    assert all(speed.wait_for_end(arn, 30) for arn in arns)
    # stock moto: two more threads listed per execution (its interpreter thread and its program's worker)
    assert len(threads) <= before + 1  # the last interpreter thread may still be finishing its exit


def test_clients_are_reused_per_session_and_renewed_with_it() -> None:
    boto_client_for = private.SFN_BOTO_CLIENT_FOR.load()
    with mock_aws():
        first = boto_client_for(region="us-east-1", service="lambda")
        assert boto_client_for(region="us-east-1", service="lambda") is first
        assert boto_client_for(region="eu-west-1", service="lambda") is not first
    with mock_aws():  # a new default session: hooks registered on it must reach the interpreter's client
        seen: list[str] = []
        boto3.DEFAULT_SESSION or boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.ListFunctions", lambda **_: seen.append("hook"))
        renewed = boto_client_for(region="us-east-1", service="lambda")
        assert renewed is not first
        renewed.list_functions()
        assert seen == ["hook"]


def test_a_changed_custom_s3_endpoint_is_still_served(monkeypatch: pytest.MonkeyPatch) -> None:
    # s3_url_table_reloaded_on_change: moto's S3 URL table is still rebuilt when the setting changes
    for endpoint in ("http://first.s3.local:4600", "http://second.s3.local:4601"):
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", endpoint)
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
            s3.create_bucket(Bucket="custom-endpoint")
            s3.put_object(Bucket="custom-endpoint", Key="k", Body=b"served")
            assert s3.get_object(Bucket="custom-endpoint", Key="k")["Body"].read() == b"served"
