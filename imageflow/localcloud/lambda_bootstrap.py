"""Run one Lambda invocation in a fresh interpreter, the way the Lambda Python runtime does.

Started by ``lambda_runtime`` as ``python -S lambda_bootstrap.py HANDLER INVOCATION_JSON RESULT_PATH`` with
the event on stdin and ``PYTHONPATH`` set to the function's code, its layers and the runtime's boto3 only.
It therefore imports nothing outside the standard library: the handler must find everything else in what
was deployed, exactly as on AWS.

The result file gets either the handler's JSON result or the runtime's error document
(``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``); the first line says which.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use.

    The one definition: the in-process runtime (``imageflow.runner.lambda_bridge``) imports it from here,
    which is why this module imports nothing outside the standard library.
    """

    def __init__(
        self,
        *,
        aws_request_id: str,
        invoked_function_arn: str,
        function_name: str,
        deadline_ms: int,
        memory_limit_in_mb: str = "128",
        function_version: str = "$LATEST",
        log_group_name: str = "",
        log_stream_name: str = "",
    ) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb  # a string, as the runtime reads it from its environment
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    @classmethod
    def from_invocation(cls, invocation: dict[str, Any], environ: Mapping[str, str]) -> LambdaContext:
        """The context of a subprocess invocation: ids from the invocation, the rest from the environment."""
        return cls(
            aws_request_id=invocation["requestId"],
            invoked_function_arn=invocation["functionArn"],
            function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            deadline_ms=invocation["deadlineMs"],
            memory_limit_in_mb=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            log_group_name=environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def error_document(error_type: str, message: str, request_id: str, exc: BaseException | None = None) -> dict[str, Any]:
    """The payload the Lambda Python runtime returns for a failed invocation (``FunctionError: Unhandled``)."""
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc is not None else []
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def exception_document(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload for an uncaught exception: its class name is the error Retry/Catch match."""
    return error_document(type(exc).__name__, str(exc), request_id, exc)


def _log_error(document: dict[str, Any]) -> None:
    # The runtime's own log line for an unhandled error, as it appears in CloudWatch.
    print(f"[ERROR] {document['errorType']}: {document['errorMessage']}", file=sys.stderr)
    if document["stackTrace"]:
        print("Traceback (most recent call last):\n" + "".join(document["stackTrace"]), file=sys.stderr, end="")


def _load_handler(spec: str, request_id: str) -> tuple[Any, dict[str, Any] | None]:
    module_path, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except Exception as exc:
        message = f"Unable to import module '{module_path}': {exc}"
        return None, error_document("Runtime.ImportModuleError", message, request_id, None)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        return None, error_document("Runtime.HandlerNotFound", message, request_id, None)
    return handler, None


def main(argv: list[str]) -> int:
    handler_spec, invocation_json, result_path = argv[1:4]
    invocation = json.loads(invocation_json)
    request_id = invocation["requestId"]
    # The task root comes first on sys.path, as /var/task does on Lambda.
    sys.path.insert(0, os.getcwd())
    outcome: dict[str, Any] = {}
    handler, error = _load_handler(handler_spec, request_id)
    if error is None:
        try:
            event = json.loads(sys.stdin.read() or "{}")
            result = handler(event, LambdaContext.from_invocation(invocation, os.environ))
        except Exception as exc:
            error = exception_document(exc, request_id)
        else:
            try:
                outcome = {"ok": json.dumps(result)}
            except (TypeError, ValueError) as exc:
                message = f"Unable to marshal response: {exc}"
                error = error_document("Runtime.MarshalError", message, request_id, None)
    if error is not None:
        _log_error(error)
        outcome = {"error": error}
    sys.stdout.flush()
    sys.stderr.flush()
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(outcome, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
