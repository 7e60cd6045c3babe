"""Targeted patches of moto's Step Functions interpreter for the in-process local runtime.

moto's interpreter (ported from LocalStack) is written for correctness in a test, not for
running thousands of executions in one process. Profiling ``imageflow run`` showed most of
the non-model time in three places, each patched here without changing what an execution
does (states, retries, Catch, history are evaluated by moto's own code):

1. ``ExecutionWorker._get_evaluation_entrypoint`` re-parses the definition with ANTLR for
   every execution (about a fifth of all CPU time). The parse result is cached per
   definition text. Sharing one parsed program between executions is safe because the
   evaluation components keep their run-time state in the execution's ``Environment``
   (stack, heap keyed by ``heap_key``, event history), never on themselves: moto's Map and
   Parallel states already evaluate one component tree from several threads at once. The
   one lazily-set attribute, ``EvalComponent.heap_key``, is filled in before sharing so no
   two executions can race to assign it.
2. ``boto_client_for`` builds a new boto3 client (service model load, endpoint resolver,
   SSL context) for every Lambda task (about a tenth). Clients are cached per boto3 default
   session, region, service and target; botocore clients are thread-safe, and the session
   in the key means a new ``mock_aws`` (which replaces the default session) gets new
   clients that see its hooks.
3. An execution signals nothing when it ends, so callers poll ``DescribeExecution``
   through the whole botocore/moto request stack. ``ExecutionWorker._execution_logic`` is
   wrapped to set a per-execution event (``wait_for_end``). The wrapper also ends an
   execution whose interpreter raised unexpectedly as FAILED with ``States.Runtime`` (AWS's
   error for an interpreter failure) instead of leaving it RUNNING forever, and drops the
   finished thread from moto's ``TMP_THREADS`` list, which otherwise grows by one thread
   object per execution.

4. ``extract_json`` and ``ResultPath`` call ``jsonpath_ng``'s ``parse`` for every path
   evaluation, and jsonpath_ng builds a new PLY parser (tables included) on each call (a
   tenth of the interpreter's time). Parsed expressions are immutable, so they are cached
   per path string.

5. moto's S3 backend re-imports (``importlib.reload``) its URL module on every request,
   because custom S3 endpoints may come from the environment. It is reloaded only when
   that setting (``settings.get_s3_custom_endpoints()``) has changed.

``install()`` is idempotent and process-wide; ``LocalWorkflow`` calls it on entry.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import boto3
from moto.core.models import botocore_stubber
from moto.settings import moto_server_port
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.backend import execution as execution_module
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.utils import TMP_THREADS

logger = logging.getLogger(__name__)

_PROGRAM_CACHE_SIZE = 32  # distinct definitions kept parsed (tests create a handful)
_installed = False
_install_lock = threading.Lock()


# -- 1. parse each definition once ------------------------------------------------------------
_programs: OrderedDict[str, EvalComponent] = OrderedDict()
_programs_lock = threading.Lock()


def _fill_heap_keys(component: Any, seen: set[int]) -> None:
    """Assign every component's lazily created ``heap_key`` now, before the tree is shared."""
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children = vars(component).values() if hasattr(component, "__dict__") else ()
    for child in children:
        items = child.values() if isinstance(child, dict) else child if isinstance(child, list | tuple) else (child,)
        for item in items:
            if isinstance(item, Component):
                _fill_heap_keys(item, seen)


def parsed_program(definition: str) -> EvalComponent:
    """The evaluation component tree of ``definition``, parsed once and shared."""
    with _programs_lock:
        program = _programs.get(definition)
        if program is not None:
            _programs.move_to_end(definition)
            return program
        # parsed under the lock: concurrent first executions would otherwise all parse
        program = AmazonStateLanguageParser.parse(definition)[0]
        _fill_heap_keys(program, set())
        _programs[definition] = program
        while len(_programs) > _PROGRAM_CACHE_SIZE:
            _programs.popitem(last=False)
        return program


def _cached_entrypoint(self: execution_worker.ExecutionWorker) -> EvalComponent:
    return parsed_program(self._evaluation_details.state_machine_details.definition)


# -- 2. one boto3 client per session/region/service -------------------------------------------
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
_original_boto_client_for: Callable[..., Any] = moto_boto_client.boto_client_for


def cached_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """``boto_client_for`` with reuse. Its credentials are fixed dummies upstream, so the key omits them."""
    session = boto3.DEFAULT_SESSION
    # the stubber flag and server port decide the client's endpoint in the original
    key = (id(session), region, service, botocore_stubber.enabled, moto_server_port())
    with _clients_lock:
        entry = _clients.get(key)
        if entry is not None and entry[0] is session:
            return entry[1]
    client = _original_boto_client_for(region=region, service=service, state_credentials=state_credentials)
    with _clients_lock:
        # keep the session referenced so its id cannot be reused by a later session
        _clients[key] = (boto3.DEFAULT_SESSION, client)
    return client


def _patch_boto_client_for() -> None:
    import importlib
    import pkgutil
    import sys

    import moto.stepfunctions.parser.asl.component.state.exec.state_task as state_task

    # modules did ``from ...boto_client import boto_client_for``: patch every binding, and
    # import the task modules first so that none binds the original after this runs
    for module_info in pkgutil.walk_packages(state_task.__path__, state_task.__name__ + "."):
        importlib.import_module(module_info.name)
    moto_boto_client.boto_client_for = cached_boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is (
            _original_boto_client_for
        ):
            module.boto_client_for = cached_boto_client_for


# -- 3. tell waiters when an execution ends ---------------------------------------------------
_ended: dict[str, threading.Event] = {}
_ended_lock = threading.Lock()


def _end_event(execution_arn: str) -> threading.Event:
    with _ended_lock:
        return _ended.setdefault(execution_arn, threading.Event())


def wait_for_end(execution_arn: str, timeout: float | None) -> bool:
    """Block until the execution's interpreter thread has finished; False on timeout."""
    return _end_event(execution_arn).wait(timeout)


def discard(execution_arn: str) -> None:
    """Forget the end event of an execution that is no longer needed."""
    with _ended_lock:
        _ended.pop(execution_arn, None)


_original_execution_logic: Callable[[Any], None] = execution_worker.ExecutionWorker._execution_logic


def _execution_logic_with_end_signal(self: execution_worker.ExecutionWorker) -> None:
    execution = getattr(self._execution_communication, "execution", None)
    try:
        _original_execution_logic(self)
    except Exception as exc:
        # upstream lets the exception kill the thread and the execution stays RUNNING forever
        logger.exception("the state machine interpreter failed")
        if execution is not None and execution.exec_status == ExecutionStatus.RUNNING:
            execution.error = "States.Runtime"
            execution.cause = f"The local interpreter failed: {type(exc).__name__}: {exc}"
            execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
            execution.exec_status = ExecutionStatus.FAILED
    finally:
        if execution is not None:
            _end_event(execution.exec_arn).set()
        # synchronous executions run on the caller's thread and are not listed
        with contextlib.suppress(ValueError):
            TMP_THREADS.remove(threading.current_thread())


# -- 4. parse each JSONPath once ---------------------------------------------------------------
def _cached_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return functools.lru_cache(maxsize=4096)(parse)


def _patch_jsonpath() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = _cached_parser(json_path.parse)  # jsonpath_ng.ext.parse
    result_path.parse = _cached_parser(result_path.parse)  # jsonpath_ng.parse


# -- 5. reload moto's S3 URL table only when its setting changes ------------------------------
_s3_urls_lock = threading.Lock()
_s3_urls_endpoints: list[tuple[str, ...]] = []


def _s3_url_module(self: Any) -> Any:
    import importlib

    import moto.s3.urls as backend_urls_module
    from moto import settings

    endpoints = tuple(settings.get_s3_custom_endpoints())
    with _s3_urls_lock:
        if _s3_urls_endpoints != [endpoints]:
            importlib.reload(backend_urls_module)
            _s3_urls_endpoints[:] = [endpoints]
    return backend_urls_module


def _patch_s3_urls() -> None:
    from moto.s3.models import S3Backend

    S3Backend._url_module = property(_s3_url_module)


_original_execution_start: Callable[[Any], None] = execution_module.Execution.start


def _start_with_fresh_end_event(self: execution_module.Execution) -> None:
    # an ARN repeats when a new mock_aws reuses an execution name: never let a waiter see
    # the previous execution's end
    with _ended_lock:
        _ended[self.exec_arn] = threading.Event()
    _original_execution_start(self)


def install() -> None:
    """Apply the patches once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        execution_worker.ExecutionWorker._get_evaluation_entrypoint = _cached_entrypoint
        execution_worker.ExecutionWorker._execution_logic = _execution_logic_with_end_signal
        execution_module.Execution.start = _start_with_fresh_end_event
        _patch_boto_client_for()
        _patch_jsonpath()
        _patch_s3_urls()
        _installed = True
