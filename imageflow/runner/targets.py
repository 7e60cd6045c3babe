"""Where ``imageflow run`` sends images: the in-process local workflow, or a deployed stage."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from imageflow.motopatch import speed
from imageflow.motopatch.private import LocalS3, LocalStepFunctions
from imageflow.review.layout import image_key, record_key
from imageflow.runner.batch import Staged
from imageflow.runner.inputs import ImageInput, upload_key
from imageflow.runner.workflow import ACCOUNT, LocalWorkflow

STACK_NAME = "image-classification-{stage}"
STATE_MACHINE_OUTPUT = "ClassifyImageStateMachineArn"
BATCH_STATE_MACHINE_OUTPUT = "ClassifyBatchStateMachineArn"
BUCKET_OUTPUT = "ImagesBucketName"


class StackLookupError(RuntimeError):
    """The deployed stage's state machine or bucket could not be found."""


class LocalTarget:
    """The local workflow, driven through moto's backends directly.

    The boto3 API would do the same through moto's request routing and response
    serialisation, which on a 2-core machine cost more GIL time per image than the three
    handlers together; the handlers and the interpreter still go through boto3 as on AWS.
    Uploaded images are deleted, executions forgotten and review entries moved to the workflow's
    queue folder once done, so memory stays flat however many images a run has (moto keeps all
    three forever otherwise).
    """

    def __init__(self, workflow: LocalWorkflow, run_id: str, *, timeout: float = 300.0) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.timeout = timeout
        self._s3 = LocalS3(ACCOUNT)
        self._sfn = LocalStepFunctions(ACCOUNT, workflow.region)

    def stage(self, index: int, item: ImageInput) -> Staged:
        key = upload_key(self.run_id, index, item)
        self._s3.put_object(self.workflow.bucket, key, item.read_bytes())
        return Staged(self.workflow.bucket, key, temporary=True)

    def start(self, execution_input: Mapping[str, Any], name: str) -> str:
        return self._sfn.start_execution(self.workflow.state_machine_arn, name, json.dumps(execution_input))

    def describe(self, arn: str) -> Mapping[str, Any]:
        if not speed.wait_for_end(arn, self.timeout):
            raise TimeoutError(f"execution still running after {self.timeout:.0f} s")
        return self._sfn.describe_execution(arn)

    def history(self, arn: str) -> Sequence[Mapping[str, Any]]:
        return self._sfn.history(arn)

    def finish(self, arn: str | None, staged: Staged, passed: bool) -> None:
        if arn is not None:
            self.workflow.forget(arn)
        if arn is not None and not passed:
            # this execution's review entry, by name: other executions are writing theirs meanwhile
            execution = arn.rsplit(":", 1)[1]
            self.workflow.move_review_queue([image_key(execution, staged.key), record_key(execution, staged.key)])
        if staged.temporary:
            self._s3.delete_object(staged.bucket, staged.key)


class AwsTarget:
    """A deployed state machine: local files are uploaded to its bucket, s3:// inputs used in place."""

    def __init__(
        self,
        sfn_client: Any,
        s3_client: Any,
        state_machine_arn: str,
        bucket: str | None,
        run_id: str,
        *,
        timeout: float = 900.0,
        max_poll_interval: float = 2.0,
    ) -> None:
        self.sfn = sfn_client
        self.s3 = s3_client
        self.state_machine_arn = state_machine_arn
        self.bucket = bucket
        self.run_id = run_id
        self.timeout = timeout
        self.max_poll_interval = max_poll_interval

    def stage(self, index: int, item: ImageInput) -> Staged:
        if item.bucket is not None and item.key is not None:
            return Staged(item.bucket, item.key)
        if not self.bucket:
            raise StackLookupError("local files need a bucket to upload to (pass --bucket)")
        key = upload_key(self.run_id, index, item)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=item.read_bytes())
        return Staged(self.bucket, key)  # kept: the deployed workflow's images stay inspectable

    def start(self, execution_input: Mapping[str, Any], name: str) -> str:
        response = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        return response["executionArn"]

    def describe(self, arn: str) -> Mapping[str, Any]:
        # Standard workflows offer no completion callback to a client: poll, backing off to
        # a couple of seconds so a large batch stays well inside DescribeExecution's quota
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while True:
            description = self.sfn.describe_execution(executionArn=arn)
            if description["status"] != "RUNNING":
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still running after {self.timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval)

    def history(self, arn: str) -> Sequence[Mapping[str, Any]]:
        events: list[Mapping[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return events

    def finish(self, arn: str | None, staged: Staged, passed: bool) -> None:
        return None


def stack_outputs(cloudformation_client: Any, stage: str) -> dict[str, str]:
    """The outputs of the stage's CloudFormation stack, by key."""
    name = STACK_NAME.format(stage=stage)
    try:
        stacks = cloudformation_client.describe_stacks(StackName=name)["Stacks"]
    except Exception as exc:  # botocore ClientError "does not exist", credentials, network
        raise StackLookupError(f"cannot read stack {name}: {exc}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def resolve_deployment(
    cloudformation_client: Any, stage: str, state_machine_arn: str | None, bucket: str | None
) -> tuple[str, str | None]:
    """The state machine ARN and images bucket: as given, else from the stack's outputs."""
    if state_machine_arn and bucket:
        return state_machine_arn, bucket
    outputs = stack_outputs(cloudformation_client, stage)
    arn = state_machine_arn or outputs.get(STATE_MACHINE_OUTPUT)
    if not arn:
        raise StackLookupError(
            f"stack {STACK_NAME.format(stage=stage)} has no output {STATE_MACHINE_OUTPUT}; pass --state-machine-arn"
        )
    return arn, bucket or outputs.get(BUCKET_OUTPUT)
