"""The local workflow: moto S3 and Step Functions in-process, the real ASL and handlers.

``LocalWorkflow`` is a context manager. Inside it, boto3 talks to moto; the state machine
from ``stepfunctions/`` runs on moto's ASL interpreter; its Lambda tasks run the handlers
in-process (``lambda_bridge``) and classify's endpoint call reaches the local model
(``endpoint_bridge``). Nothing in ``handlers/`` knows it is local.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from imageflow.endpoint.service import LocalEndpoint
from imageflow.runner import moto_speedups
from imageflow.runner.definition import DEFINITION_PATH, load_definition, resolve_functions, to_json
from imageflow.runner.endpoint_bridge import EndpointBridge
from imageflow.runner.function_logs import routed_stdout
from imageflow.runner.lambda_bridge import FunctionRegistry
from imageflow.runner.s3_bridge import S3Bridge

ACCOUNT = "123456789012"  # moto's default account
SERVICE = "image-classification"
HANDLERS = {
    "serialize": "handlers.serialize.handler",
    "classify": "handlers.classify.handler",
    "threshold": "handlers.threshold.handler",
}
# Functions that publish Powertools metrics: one event at a time (see FunctionRegistry).
METRIC_PUBLISHERS = frozenset({"threshold"})
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


@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reset_handler_containers() -> None:
    """Forget the handlers' cached clients and settings, as a new Lambda container would."""
    import handlers.classify
    import handlers.serialize
    import handlers.threshold
    from handlers.common import aws

    for cached in (
        aws.s3_client,
        aws.sagemaker_runtime_client,
        handlers.serialize.settings,
        handlers.classify.settings,
        handlers.threshold.settings,
    ):
        cached.cache_clear()


class LocalWorkflow:
    """Run the state machine locally. Use as ``with LocalWorkflow(endpoint) as workflow: ...``."""

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
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.state_machine_name = f"{SERVICE}-{stage}-classify-image"
        self._stage = stage
        self._definition_path = definition_path
        self._handlers = dict(HANDLERS, **(handlers or {}))
        self._env: dict[str, str | None] = {
            "ENDPOINT_NAME": endpoint.endpoint_name,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
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
        self._stack: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalWorkflow:
        # moto logs every failed state with its whole parsed definition; outcomes are reported here.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        env = _environment(self._env)
        env.__enter__()
        self._stack.append(env)
        stdout = routed_stdout()  # handlers' prints go to their function's log, as on Lambda
        stdout.__enter__()
        self._stack.append(stdout)
        moto_speedups.install()
        mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        mock.start()
        self._stack.append(mock)
        reset_handler_containers()

        # moto's interpreter and the handlers create their clients from boto3's default
        # session, which mock_aws has just reset: hook it now, before any client exists.
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        self.functions = FunctionRegistry(self.region, ACCOUNT)
        arns = {
            key: self.functions.register(f"{SERVICE}-{self._stage}-{key}", handler, exclusive=key in METRIC_PUBLISHERS)
            for key, handler in self._handlers.items()
        }
        session.events.register("before-call.lambda.Invoke", self.functions.before_call)
        session.events.register(
            "before-call.sagemaker-runtime.InvokeEndpoint", EndpointBridge(self.endpoint).before_call
        )
        session.events.register("before-call.s3.GetObject", S3Bridge(ACCOUNT).before_call)

        self.s3 = boto3.client("s3", region_name=self.region)
        self.sfn = boto3.client("stepfunctions", region_name=self.region)
        self.s3.create_bucket(Bucket=self.bucket)
        definition = resolve_functions(load_definition(self._definition_path), arns.__getitem__)
        self.state_machine_arn = self.sfn.create_state_machine(
            name=self.state_machine_name,
            definition=to_json(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.state_machine_name}-role",
        )["stateMachineArn"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._stack:
            item = self._stack.pop()
            if hasattr(item, "stop"):
                item.stop()
            else:
                item.__exit__(*exc_info)
        reset_handler_containers()

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

        The interpreter signals the end (``moto_speedups``), so there is no polling; the
        result itself still comes from ``DescribeExecution``, as a client would see it.
        """
        if not moto_speedups.wait_for_end(arn, timeout):
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

    def execution(self, arn: str) -> Any:
        """moto's own record of an execution (what its API serialises), for fast local reads."""
        return stepfunctions_parser_backends[ACCOUNT][self.region].describe_execution(arn)

    def forget(self, arn: str) -> None:
        """Drop a finished execution from moto's memory.

        moto keeps every execution forever (and scans them all on each describe call), so a
        long run would grow in memory and slow down; results are already collected here.
        """
        moto_speedups.discard(arn)
        backend = stepfunctions_parser_backends[ACCOUNT][self.region]
        machine = backend.describe_state_machine(self.state_machine_arn)
        machine.executions[:] = [execution for execution in machine.executions if execution.execution_arn != arn]
