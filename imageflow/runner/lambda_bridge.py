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
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from imageflow.runner.botocore_hooks import body_bytes, path_parameter, streaming, success
from imageflow.runner.function_logs import function_output

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload the Lambda Python runtime returns for an uncaught exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


class FunctionRegistry:
    """Function names/ARNs -> handlers, and the in-process ``lambda.Invoke``.

    Invocations run concurrently, as Lambda runs concurrent events in separate containers,
    except for functions registered ``exclusive``: their module state is process-wide here
    (Powertools' metric set is shared by every Metrics instance), so two concurrent events
    would flush each other's metrics. Those run one event at a time, like a single container.
    """

    def __init__(self, region: str, account: str) -> None:
        self.region = region
        self.account = account
        self._handlers: dict[str, Handler] = {}
        self._containers: dict[str, threading.Lock | contextlib.nullcontext[None]] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def register(self, name: str, handler: Handler | str, *, exclusive: bool = False) -> str:
        """Register a handler (callable or ``module.function`` path); return the function's ARN."""
        if isinstance(handler, str):
            module_name, _, attribute = handler.rpartition(".")
            handler = getattr(importlib.import_module(module_name.replace("/", ".")), attribute)
        self._handlers[name] = handler
        self._containers[name] = threading.Lock() if exclusive else contextlib.nullcontext()
        return self.arn(name)

    def _resolve(self, name_or_arn: str) -> tuple[str, Handler]:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        try:
            return name, self._handlers[name]
        except KeyError:
            raise LookupError(f"No local function named {name!r}") from None

    def invoke(self, name_or_arn: str, payload: bytes) -> tuple[bytes, str | None]:
        """Run the handler; return (response payload, FunctionError or None)."""
        name, handler = self._resolve(name_or_arn)
        context = LambdaContext(function_name=name, invoked_function_arn=self.arn(name))
        try:
            # orjson: payloads carry inline images as long base64 strings.
            event = orjson.loads(payload) if payload else {}
            with self._containers[name], function_output(name):
                result = handler(event, context)
            return orjson.dumps(result), None
        except Exception as exc:
            return orjson.dumps(error_payload(exc, context.aws_request_id)), "Unhandled"

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
