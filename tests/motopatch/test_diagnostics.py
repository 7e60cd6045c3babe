"""States.Runtime in the in-process runtime: the cause names the exception, the state and the place.

(The local cloud's counterpart is in tests/localcloud/test_moto_fixes.py, against a real server.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import LocalEndpoint
from imageflow.motopatch import speed
from imageflow.runner.lambda_bridge import FunctionRegistry
from imageflow.runner.workflow import LocalWorkflow
from tests.helpers import SAMPLES

LOCATION = r"raised at (?P<file>\S+\.py):\d+ in (?P<function>\w+)"


@pytest.fixture(scope="module")
def endpoint() -> LocalEndpoint:
    return LocalEndpoint(ImageClassifier.from_files(), endpoint_name="image-classifier-test")


def test_in_process_a_pass_state_given_bad_json_names_the_exception_state_and_place(
    endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    definition = tmp_path / "bad_json.asl.json"
    definition.write_text(
        json.dumps(
            {
                "StartAt": "Describe",
                "States": {
                    "Describe": {"Type": "Pass", "Parameters": {"detail.$": "States.StringToJson($.text)"}, "End": True}
                },
            }
        )
    )
    with LocalWorkflow(endpoint, definition_path=definition) as workflow:
        result = workflow.run({"text": "not json"}, name="bad-json")
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    # stock moto: "JSONDecodeError(Expecting value: line 1 column 1 (char 0))", no state and no place
    assert result.cause.startswith("JSONDecodeError: Expecting value: line 1 column 1 (char 0) (in state 'Describe'")
    where = re.search(LOCATION + r"; called from moto/stepfunctions/\S+\.py:\d+ in \w+\)$", result.cause)
    assert where and where["file"].startswith("json/"), result.cause


class InjectedBridgeFault(RuntimeError):
    """A fault in the in-process Lambda bridge itself (not in a handler): what a bug there would raise."""


def test_fault_lambda_bridge_raises_the_task_cause_names_the_exception_and_place(
    endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def injected_bridge_fault(self: FunctionRegistry, name_or_arn: str, payload: bytes) -> Any:
        raise InjectedBridgeFault(f"bridge broke while invoking {name_or_arn.rpartition(':')[2]}")

    monkeypatch.setattr(FunctionRegistry, "invoke", injected_bridge_fault)
    with LocalWorkflow(endpoint) as workflow:
        workflow.put_image("moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
        result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "moto.png"}, name="bridge-fault")
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    # stock moto: "An error occurred while executing the state 'Serialize' (entered at the event id #6).
    # bridge broke while invoking image-classification-local-serialize": no exception type, no place
    assert result.cause.startswith("An error occurred while executing the state 'Serialize'")
    assert (
        ". InjectedBridgeFault: bridge broke while invoking image-classification-local-serialize (in state 'Serialize'"
        in result.cause
    )
    where = re.search(
        LOCATION + r"; called from imageflow/runner/lambda_bridge\.py:\d+ in before_call\)$", result.cause
    )
    assert where and where["file"].endswith("test_diagnostics.py") and where["function"] == "injected_bridge_fault"


def test_fault_lambda_answers_a_bare_http_500_the_task_fails_as_Lambda_500_not_States_Runtime(
    endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bare_http_500(self: FunctionRegistry, name_or_arn: str, payload: bytes) -> Any:
        # what botocore raises for an error page without a request id header (measured against a moto
        # server whose handler raised): no RequestId in ResponseMetadata
        error = {
            "Error": {"Code": "500", "Message": "Internal Server Error"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }
        raise ClientError(error, "Invoke")

    monkeypatch.setattr(FunctionRegistry, "invoke", bare_http_500)
    with LocalWorkflow(endpoint) as workflow:
        workflow.put_image("moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
        result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "moto.png"}, name="bare-500")
    # stock moto: States.Runtime, "KeyError: 'RequestId'", raised by its own error mapping
    assert (result.status, result.error) == ("FAILED", "Lambda.500"), result.cause
    assert result.cause == (
        "Internal Server Error (Service: AWSLambda; Status Code: 500; Error Code: 500; Request ID: null; Proxy: null)"
    )


class InjectedInterpreterFault(RuntimeError):
    """A fault outside any state's evaluation, which moto's own error handling never sees."""


def test_fault_program_lookup_raises_the_execution_fails_with_States_Runtime(
    endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def injected_program_fault(definition: str) -> Any:
        raise InjectedInterpreterFault("no program for this definition")

    with LocalWorkflow(endpoint) as workflow:
        monkeypatch.setattr(speed, "parsed_program", injected_program_fault)
        result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "any.png"}, name="interpreter-fault", timeout=30)
    # stock moto: the interpreter thread dies and the execution stays RUNNING for ever (a TimeoutError here)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause.startswith("The interpreter failed: InjectedInterpreterFault: no program for this definition (")
    assert re.search(r"raised at \S+test_diagnostics\.py:\d+ in injected_program_fault", result.cause), result.cause
