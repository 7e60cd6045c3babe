"""Run Lambda invocations in-process with the Python runtime's semantics.

Successful results and uncaught exceptions come back as the Lambda service returns them:
an exception becomes ``FunctionError: Unhandled`` with an ``errorType``/``errorMessage``
payload, so the state machine's Retry/Catch match on the exception's class name.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from imageflow.localcloud.lambda_bootstrap import LambdaContext, exception_document
from imageflow.runner.botocore_hooks import body_bytes, path_parameter, streaming, success
from imageflow.runner.function_logs import function_output
from imageflow.runner.functions import publishes_metrics

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class _Function:
    handler: Handler
    # a lock for handlers that must take one event at a time; a no-op otherwise
    container: threading.Lock | contextlib.nullcontext[None]
    timeout_seconds: int
    memory_mb: int


class FunctionRegistry:
    """Function names/ARNs -> handlers, and the in-process ``lambda.Invoke``.

    Invocations run concurrently, as Lambda runs concurrent events in separate containers,
    except for handlers that publish Powertools metrics: their module state is process-wide
    here (Powertools' metric set is shared by every Metrics instance), so two concurrent events
    would flush each other's metrics. Those run one event at a time, like a single container.
    """

    def __init__(self, region: str, account: str) -> None:
        self.region = region
        self.account = account
        self._functions: dict[str, _Function] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def register(self, name: str, handler: Handler | str, *, timeout_seconds: int = 30, memory_mb: int = 512) -> str:
        """Register a handler (callable or ``path/module.function``); return the function's ARN."""
        if isinstance(handler, str):
            module_name, _, attribute = handler.rpartition(".")
            handler = getattr(importlib.import_module(module_name.replace("/", ".")), attribute)
        container = threading.Lock() if publishes_metrics(handler) else contextlib.nullcontext()
        self._functions[name] = _Function(handler, container, timeout_seconds, memory_mb)
        return self.arn(name)

    def publishes_metrics(self, name: str) -> bool:
        return not isinstance(self._functions[name].container, contextlib.nullcontext)

    def _resolve(self, name_or_arn: str) -> tuple[str, _Function]:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        try:
            return name, self._functions[name]
        except KeyError:
            raise LookupError(f"No local function named {name!r}") from None

    def _context(self, name: str, function: _Function) -> LambdaContext:
        return LambdaContext(
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=self.arn(name),
            function_name=name,
            deadline_ms=int(time.time() * 1000) + function.timeout_seconds * 1000,
            memory_limit_in_mb=str(function.memory_mb),
            log_group_name=f"/aws/lambda/{name}",
        )

    def invoke(self, name_or_arn: str, payload: bytes) -> tuple[bytes, str | None]:
        """Run the handler; return (response payload, FunctionError or None)."""
        name, function = self._resolve(name_or_arn)
        context = self._context(name, function)
        try:
            # orjson: payloads carry inline images as long base64 strings.
            event = orjson.loads(payload) if payload else {}
            with function.container, function_output(name):
                result = function.handler(event, context)
            return orjson.dumps(result), None
        except Exception as exc:
            return orjson.dumps(exception_document(exc, context.aws_request_id)), "Unhandled"

    def before_call(self, params: dict[str, Any], **_: Any) -> Any:
        """botocore ``before-call.lambda.Invoke`` handler."""
        name = path_parameter(params, "functions")
        try:
            self._resolve(name)
        except LookupError:
            return None  # not ours: let the call proceed
        payload, function_error = self.invoke(name, body_bytes(params))
        parsed: dict[str, Any] = {"StatusCode": 200, "Payload": streaming(payload), "ExecutedVersion": "$LATEST"}
        if function_error:
            parsed["FunctionError"] = function_error
        return success(parsed)
