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
from typing import Any


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, invocation: dict[str, Any]) -> None:
        self.aws_request_id: str = invocation["requestId"]
        self.invoked_function_arn: str = invocation["functionArn"]
        self.function_name: str = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb: str = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name: str = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name: str = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = invocation["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _error_document(error_type: str, message: str, request_id: str, exc: BaseException | None) -> dict[str, Any]:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc is not None else []
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


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
        return None, _error_document("Runtime.ImportModuleError", message, request_id, None)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        return None, _error_document("Runtime.HandlerNotFound", message, request_id, None)
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
            result = handler(event, LambdaContext(invocation))
        except Exception as exc:
            error = _error_document(type(exc).__name__, str(exc), request_id, exc)
        else:
            try:
                outcome = {"ok": json.dumps(result)}
            except (TypeError, ValueError) as exc:
                message = f"Unable to marshal response: {exc}"
                error = _error_document("Runtime.MarshalError", message, request_id, None)
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
