"""LocalWorkflow's set-up and tear-down leave the process as they found it, even when a step fails."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from imageflow.endpoint.model import ImageClassifier
from imageflow.endpoint.service import LocalEndpoint
from imageflow.runner.workflow import LocalWorkflow
from tests.helpers import SAMPLES


class InjectedSetupFault(RuntimeError):
    """A set-up step failing (what a moto error, a bad definition or a full disk would raise)."""


@pytest.fixture(scope="module")
def endpoint() -> LocalEndpoint:
    return LocalEndpoint(ImageClassifier.from_files(), endpoint_name="image-classifier-test")


def _process_state() -> dict[str, Any]:
    return {
        "environ": dict(os.environ),
        "stdout": sys.stdout,
        "default_session": boto3.DEFAULT_SESSION,
        "moto_log_level": logging.getLogger("moto.stepfunctions").level,
    }


def _fault(step: Callable[..., None], when: str) -> Callable[..., None]:
    def faulty(self: LocalWorkflow, stack: Any) -> None:
        if when == "after":
            step(self, stack)  # the step's change is made, then it fails
        raise InjectedSetupFault(f"{step.__name__} failed {when} its work")

    return faulty


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("step", LocalWorkflow.SETUP_STEPS)
def test_fault_in_a_setup_step_puts_everything_back(
    step: str, when: str, endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid")  # a variable the workflow removes
    monkeypatch.delenv("THRESHOLD", raising=False)  # and one it sets
    before = _process_state()
    monkeypatch.setattr(LocalWorkflow, step, _fault(getattr(LocalWorkflow, step), when))
    with pytest.raises(InjectedSetupFault):
        LocalWorkflow(endpoint, threshold=0.5).__enter__()
    assert _process_state() == before


def test_a_workflow_runs_after_a_failed_setup_and_its_exit_puts_everything_back(
    endpoint: LocalEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _process_state()
    with monkeypatch.context() as patch:
        patch.setattr(LocalWorkflow, "_create_state_machine", _fault(LocalWorkflow._create_state_machine, "after"))
        with pytest.raises(InjectedSetupFault):
            LocalWorkflow(endpoint).__enter__()
    with LocalWorkflow(endpoint, threshold=0.5) as workflow:
        assert os.environ["THRESHOLD"] == "0.5" and sys.stdout is not before["stdout"]
        workflow.put_image("moto.png", (SAMPLES / "motorcycle_right.png").read_bytes())
        result = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "moto.png"}, name="after-a-failed-setup")
        assert result.status == "SUCCEEDED", result.cause
    assert _process_state() == before
