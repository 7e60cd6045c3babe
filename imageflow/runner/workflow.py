"""The local workflow: moto S3 and Step Functions in-process, the real ASL and handlers.

``LocalWorkflow`` is a context manager. Inside it, boto3 talks to moto; the state machine
from ``stepfunctions/`` runs on moto's ASL interpreter; its Lambda tasks run the handlers
in-process (``lambda_bridge``) and classify's endpoint call reaches the local model
(``endpoint_bridge``). Nothing in ``handlers/`` knows it is local.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from imageflow.endpoint.service import LocalEndpoint
from imageflow.motopatch import index as moto_patches
from imageflow.motopatch import speed
from imageflow.motopatch.private import LocalS3, LocalStepFunctions
from imageflow.review.queue import ReviewQueue, move_objects, review_keys
from imageflow.runner import native_memory
from imageflow.runner.definition import (
    BATCH_DEFINITION_PATH,
    DEFINITION_PATH,
    load_definition,
    resolve_functions,
    to_json,
)
from imageflow.runner.endpoint_bridge import EndpointBridge
from imageflow.runner.function_logs import routed_stdout
from imageflow.runner.functions import load_service, reset_handler_containers
from imageflow.runner.lambda_bridge import FunctionRegistry
from imageflow.runner.s3_bridge import S3Bridge

ACCOUNT = "123456789012"  # moto's default account
# Variables that would send boto3 past moto (e.g. after sourcing the local-cloud env file).
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")


@dataclass
class ExecutionResult:
    """What a finished execution reports: status, output, or error and cause."""

    name: str
    arn: str
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _set_environment(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


@contextlib.contextmanager
def _logger_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


class LocalWorkflow:
    """Run the state machine locally. Use as ``with LocalWorkflow(endpoint) as workflow: ...``.

    Set-up is a sequence of steps (``SETUP_STEPS``), each registering its own undo on one
    ``ExitStack``: if any step raises, what the earlier steps changed (environment, stdout,
    ``mock_aws`` and with it boto3's default session) is put back before the error propagates.
    """

    SETUP_STEPS = (
        "_quiet_interpreter_logs",
        "_set_environment",
        "_route_stdout",
        "_start_moto",
        "_register_functions",
        "_create_bucket",
        "_create_state_machine",
    )

    def __init__(
        self,
        endpoint: LocalEndpoint,
        *,
        bucket: str = "image-classification-local-images",
        stage: str = "local",
        region: str = "us-east-1",
        threshold: float | None = None,
        labels: tuple[str, ...] | None = None,
        definition_path: os.PathLike[str] | str = DEFINITION_PATH,
        handlers: Mapping[str, Callable[[Any, Any], Any] | str] | None = None,
        batch_concurrency: int = 4,
        review_queue: ReviewQueue | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.review_queue = review_queue
        self.review_records_moved = 0
        self._review_lock = threading.Lock()
        self.bucket = bucket
        self.region = region
        self._service = load_service()
        self.state_machine_name = f"{self._service.service}-{stage}-classify-image"
        self.batch_state_machine_name = f"{self._service.service}-{stage}-classify-batch"
        self.batch_concurrency = batch_concurrency
        self._stage = stage
        self._definition_path = definition_path
        self._handlers = {key: function.handler for key, function in self._service.functions.items()}
        self._handlers.update(handlers or {})
        self._env: dict[str, str | None] = {
            "ENDPOINT_NAME": endpoint.endpoint_name,
            "POWERTOOLS_SERVICE_NAME": self._service.service,
            # Handler logs would bury the progress display; raise the level to see them.
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            # No POWERTOOLS_METRICS_DISABLED: the EMF lines the threshold step prints go to its
            # function log (function_logs), and disabled metrics are never cleared between
            # invocations (powertools 3.37), so they would pile up in the handler module.
            "AWS_DEFAULT_REGION": region,
            **dict.fromkeys(_ENDPOINT_VARIABLES),
        }
        if threshold is not None:
            self._env["THRESHOLD"] = str(threshold)
        if labels is not None:
            self._env["LABELS"] = ",".join(labels)
        self._exit_stack: contextlib.ExitStack | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalWorkflow:
        native_memory.limit_malloc_arenas()  # image buffers on many threads: keep a long run's memory flat
        moto_patches.apply(moto_patches.IN_PROCESS)
        with contextlib.ExitStack() as stack:
            stack.callback(reset_handler_containers)  # undone last: the next workflow's containers start clean
            for step in self.SETUP_STEPS:
                getattr(self, step)(stack)
            self._exit_stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            stack.__exit__(*exc_info)

    def _quiet_interpreter_logs(self, stack: contextlib.ExitStack) -> None:
        # moto logs every failed state with its whole parsed definition; outcomes are reported here.
        stack.enter_context(_logger_level("moto.stepfunctions", logging.CRITICAL))

    def _set_environment(self, stack: contextlib.ExitStack) -> None:
        stack.enter_context(_environment(self._env))

    def _route_stdout(self, stack: contextlib.ExitStack) -> None:
        stack.enter_context(routed_stdout())  # handlers' prints go to their function's log, as on Lambda

    def _start_moto(self, stack: contextlib.ExitStack) -> None:
        # mock_aws replaces boto3's default session while it runs, and puts the previous one back
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        reset_handler_containers()

    def _register_functions(self, stack: contextlib.ExitStack) -> None:
        # moto's interpreter and the handlers create their clients from boto3's default
        # session, which mock_aws has just reset: hook it now, before any client exists.
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        self.functions = FunctionRegistry(self.region, ACCOUNT)
        self._arns = {}
        for key, handler in self._handlers.items():
            config = self._service.functions.get(key)
            limits = {"timeout_seconds": config.timeout_seconds, "memory_mb": config.memory_mb} if config else {}
            self._arns[key] = self.functions.register(self._service.function_name(key, self._stage), handler, **limits)
        session.events.register("before-call.lambda.Invoke", self.functions.before_call)
        session.events.register(
            "before-call.sagemaker-runtime.InvokeEndpoint", EndpointBridge(self.endpoint).before_call
        )
        session.events.register("before-call.s3.GetObject", S3Bridge(ACCOUNT).before_call)
        self.s3 = boto3.client("s3", region_name=self.region)
        self.sfn = boto3.client("stepfunctions", region_name=self.region)
        self._local_sfn = LocalStepFunctions(ACCOUNT, self.region)
        self._local_s3 = LocalS3(ACCOUNT)

    def _create_bucket(self, stack: contextlib.ExitStack) -> None:
        self.s3.create_bucket(Bucket=self.bucket)

    def _create_state_machine(self, stack: contextlib.ExitStack) -> None:
        definition = resolve_functions(load_definition(self._definition_path), self._arns.__getitem__)
        self.state_machine_arn = self.sfn.create_state_machine(
            name=self.state_machine_name,
            definition=to_json(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.state_machine_name}-role",
        )["stateMachineArn"]
        # classifyBatch: the same ASL file as on AWS, its variables resolved for this bucket and concurrency
        batch = load_definition(
            BATCH_DEFINITION_PATH,
            {
                "self:custom.imagesBucketName": self.bucket,
                "param:batchMaxConcurrency": self.batch_concurrency,
            },
        )
        self.batch_state_machine_arn = self.sfn.create_state_machine(
            name=self.batch_state_machine_name,
            definition=to_json(resolve_functions(batch, self._arns.__getitem__)),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.batch_state_machine_name}-role",
        )["stateMachineArn"]

    # -- running ---------------------------------------------------------------------------
    def put_image(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def start(self, execution_input: Mapping[str, Any], name: str) -> str:
        """Start an execution (moto runs it on a background thread); return its ARN."""
        response = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        return response["executionArn"]

    def wait(self, arn: str, *, timeout: float = 300.0, with_history: bool = False) -> ExecutionResult:
        """Block until the execution ends; return its result.

        The interpreter signals the end (``motopatch.speed.execution_end_signal``), so there is
        no polling; the result itself still comes from ``DescribeExecution``, as a client would see it.
        """
        if not speed.wait_for_end(arn, timeout):
            raise TimeoutError(f"Execution {arn} still running after {timeout:.0f} s")
        description = self.sfn.describe_execution(executionArn=arn)
        output = description.get("output")
        result = ExecutionResult(
            name=description["name"],
            arn=arn,
            status=description["status"],
            output=json.loads(output) if output else None,
            error=description.get("error"),
            cause=description.get("cause"),
        )
        if with_history:
            result.history = self.history(arn)
        return result

    def run(self, execution_input: Mapping[str, Any], name: str, **wait_options: Any) -> ExecutionResult:
        return self.wait(self.start(execution_input, name), **wait_options)

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return events

    def describe_execution(self, arn: str) -> dict[str, Any]:
        """``DescribeExecution`` read from moto's own record, without the API round trip (fast local reads)."""
        return self._local_sfn.describe_execution(arn)

    def execution_history(self, arn: str) -> list[dict[str, Any]]:
        """``GetExecutionHistory`` read from moto's own record."""
        return self._local_sfn.history(arn)

    def move_review_queue(self, keys: Iterable[str] | None = None) -> int:
        """Move review objects (``keys``, default all under review/) to ``review_queue``; returns records moved.

        The runners call this as executions end: the bucket is in process memory, so review copies left there
        would make a run's memory grow with its low-confidence images. Without a queue, review/ stays put.
        The objects are read and deleted in moto's backend directly: through boto3 and moto's request routing,
        the move of one low-confidence image cost more GIL time than the model's inference of it.
        """
        if self.review_queue is None:
            return 0

        def read(key: str) -> bytes | None:
            found = self._local_s3.get_object(self.bucket, key)
            return None if found is None else found[0]

        def delete(keys: list[str]) -> None:
            for key in keys:
                self._local_s3.delete_object(self.bucket, key)

        keys = review_keys(self.s3, self.bucket) if keys is None else keys
        moved = move_objects(read, delete, self.review_queue, keys)
        with self._review_lock:  # the per-image runner finishes executions from several threads
            self.review_records_moved += moved
        return moved

    def forget(self, arn: str) -> None:
        """Drop a finished execution from moto's memory.

        moto keeps every execution forever (and scans them all on each describe call), so a
        long run would grow in memory and slow down; results are already collected here.
        """
        speed.discard(arn)
        batch = f":execution:{self.batch_state_machine_name}:" in arn
        machine = self.batch_state_machine_arn if batch else self.state_machine_arn
        self._local_sfn.forget_execution(machine, arn)
