"""Patches that make a ``States.Runtime`` failure say what went wrong and where.

``States.Runtime`` is what the interpreter reports when evaluating a state itself fails, not the workflow's
own code: a bug in moto, in the project's bridges, or an intrinsic function given bad data. Upstream, its
cause is the bare exception message (or ``Type(message)``), with no state and no place, which a person
cannot act on. With these patches the cause reads, for example::

    JSONDecodeError: Expecting value: line 1 column 1 (char 0) (in state 'Describe'; raised at
    json/decoder.py:355 in raw_decode; called from moto/stepfunctions/parser/asl/component/intrinsic/
    function/statesfunction/json_manipulation/string_to_json.py:38 in _eval_body)
"""

from __future__ import annotations

import datetime
import functools
import logging
import sys
from types import TracebackType
from typing import Any

from imageflow.motopatch import private
from imageflow.motopatch.applied import once

logger = logging.getLogger(__name__)

STATES_RUNTIME = "States.Runtime"
# Frames in these packages are "the interpreter": the first of them above a foreign raise is named too.
_OWN_PACKAGES = ("moto", "imageflow", "handlers")


def describe_exception(exc: BaseException, state: str | None = None) -> str:
    """``Type: message (in state 'S'; raised at file:line in function; called from ...)``.

    ``state`` defaults to the innermost state whose evaluation the traceback passes through.
    """
    frames = list(_frames(exc.__traceback__))
    state = state or _innermost_state(frames)
    where = [f"in state {state!r}"] if state else []
    if frames:
        raised = frames[-1]
        where.append(f"raised at {_location(raised)}")
        caller = next((tb for tb in reversed(frames[:-1]) if _is_own(tb)), None)
        if caller is not None and not _is_own(raised):
            where.append(f"called from {_location(caller)}")
    return f"{type(exc).__name__}: {exc} ({'; '.join(where) or 'no traceback'})"


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    return frames


def _innermost_state(frames: list[TracebackType]) -> str | None:
    state_class = private.SFN_COMMON_STATE.load()
    for tb in reversed(frames):
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, state_class):
            return owner.name
    return None


def _short_path(filename: str) -> str:
    """The path below the import root it was loaded from (``json/decoder.py``), not the machine's path."""
    roots = sorted((p for p in sys.path if p and filename.startswith(p.rstrip("/") + "/")), key=len, reverse=True)
    return filename[len(roots[0].rstrip("/")) + 1 :] if roots else filename


def _location(tb: TracebackType) -> str:
    code = tb.tb_frame.f_code
    return f"{_short_path(code.co_filename)}:{tb.tb_lineno} in {code.co_name}"


def _is_own(tb: TracebackType) -> bool:
    return _short_path(tb.tb_frame.f_code.co_filename).split("/")[0] in _OWN_PACKAGES


@once
def runtime_error_cause_names_origin() -> None:
    """A ``States.Runtime`` cause names the exception's type and message, the state, and where it was raised.

    Upstream: when a state's evaluation raises an unexpected exception, ``ExecutionState._from_error``
    (Task, Map, Parallel states) records ``States.Runtime`` with ``str(exception)`` as the cause, and the
    catch-all in ``Program._eval_body`` (Pass, Choice and the rest) records ``Type(message)``; neither says
    which state failed or where in the code.

    The patch rewrites only those two causes. The first is wrapped directly. The second is built inside
    ``Program._eval_body``'s ``except`` block and handed to ``Environment.set_error``; the wrapper of
    ``set_error`` recognises it by the exception being handled (``sys.exc_info()``: an ordinary exception,
    not moto's ``FailureEventException``, which carries a cause of its own) and the error ``States.Runtime``.
    """
    from_error = private.SFN_EXECUTE_STATE_FROM_ERROR.load()
    set_error = private.SFN_ENVIRONMENT_SET_ERROR.load()
    failure_exception = private.SFN_FAILURE_EVENT_EXCEPTION.load()
    private.SFN_PROGRAM_BODY.load()  # the catch-all this patch relies on

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        event = from_error(self, env, ex)
        if not isinstance(ex, failure_exception):
            for details in event.event_details.values():
                if isinstance(details, dict) and details.get("error") == STATES_RUNTIME:
                    details["cause"] = describe_exception(ex, self.name)
        return event

    def _set_error(self: Any, error: Any) -> None:
        handled = sys.exc_info()[1]
        if (
            handled is not None
            and not isinstance(handled, failure_exception)
            and isinstance(error, dict)
            and error.get("error") == STATES_RUNTIME
        ):
            error = {**error, "cause": describe_exception(handled)}
        set_error(self, error)

    private.SFN_EXECUTE_STATE_FROM_ERROR.replace(functools.wraps(from_error)(_from_error))
    private.SFN_ENVIRONMENT_SET_ERROR.replace(functools.wraps(set_error)(_set_error))


@once
def interpreter_failure_fails_execution() -> None:
    """An exception that escapes the interpreter ends the execution FAILED with ``States.Runtime``.

    Upstream: an exception raised outside the states' own error handling (while preparing the execution,
    or by a patch) ends the interpreter's thread; the execution then stays RUNNING for ever and
    ``DescribeExecution`` never reports anything. The patch records it as AWS records an interpreter
    failure, error ``States.Runtime``, with a cause naming the exception and where it was raised.
    """
    execution_logic = private.SFN_EXECUTION_LOGIC.load()
    running = private.SFN_EXECUTION_STATUS.load().RUNNING
    failed = private.SFN_EXECUTION_STATUS.load().FAILED

    def _execution_logic(self: Any) -> None:
        execution = getattr(self._execution_communication, "execution", None)
        try:
            execution_logic(self)
        except Exception as exc:
            logger.exception("the state machine interpreter failed")
            if execution is not None and execution.exec_status == running:
                execution.error = STATES_RUNTIME
                execution.cause = f"The interpreter failed: {describe_exception(exc)}"
                execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
                execution.exec_status = failed

    private.SFN_EXECUTION_LOGIC.replace(functools.wraps(execution_logic)(_execution_logic))


# what botocore leaves out when the response carried no request id; the causes already write "Proxy: null"
MISSING_REQUEST_ID = "null"


@once
def service_errors_keep_their_names() -> None:
    """A service error answered without a request id fails its task with the service's error name.

    Upstream: the Lambda, AWS SDK, Step Functions, DynamoDB, Batch and SNS integrations write a failed task's
    cause from ``ClientError.response["ResponseMetadata"]["RequestId"]``. botocore fills that in only from
    the response's request id header, and an error page without one (werkzeug's bare HTTP 500, which a
    moto server sends when a handler raises something other than an AWS error) makes that mapping itself
    raise ``KeyError: 'RequestId'``. moto reports that as ``States.Runtime``, which the state's Retry and
    Catch for the service's errors (``Lambda.ServiceException``...) never match, so the execution fails.

    The patch writes ``RequestId: "null"`` into such an error before the mapping reads it; the task then
    fails as ``<Service>.<code>`` and the definition's own error handling applies.
    """
    from botocore.exceptions import ClientError

    def keeping_the_error_name(from_error: Any) -> Any:
        @functools.wraps(from_error)
        def _from_error(self: Any, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                ex.response.setdefault("ResponseMetadata", {}).setdefault("RequestId", MISSING_REQUEST_ID)
            return from_error(self, env, ex)

        return _from_error

    for name in private.SFN_SERVICE_ERROR_MAPPINGS:
        name.replace(keeping_the_error_name(name.load()))
