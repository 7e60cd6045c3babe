"""Patches that make moto's Step Functions interpreter fast enough to run thousands of executions.

moto's interpreter (ported from LocalStack) is written for correctness in a test, not for running a batch
in one process. Profiling ``imageflow run`` found the time below; each patch removes one cost without
changing what an execution does (states, retries, Catch and history are evaluated by moto's own code). The
patch index (``imageflow.motopatch.index``) lists them with their tests and when each can go.

The local cloud's server gets the ones that hold for any process (the parsed program, the JSONPath and S3
URL caches): a ``classifyBatch`` over its bucket runs a Distributed Map child for each of about 1,000
objects, and unpatched, the map spent most of its time building JSONPath parsers. The rest serve the
in-process runner's own way of waiting for executions and reusing clients.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import pkgutil
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import boto3

from imageflow.motopatch import private
from imageflow.motopatch.applied import once

_PROGRAM_CACHE_SIZE = 32  # distinct definitions kept parsed (a run has one; tests create a handful)
_programs: OrderedDict[str, Any] = OrderedDict()
_programs_lock = threading.Lock()


def _fill_heap_keys(component: Any, seen: set[int]) -> None:
    """Assign every component's lazily created ``heap_key`` now, before the tree is shared."""
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, private.SFN_COMPONENT.load()):
        _ = getattr(component, "heap_key", None)
        for child in vars(component).values():
            items = (
                child.values() if isinstance(child, dict) else child if isinstance(child, list | tuple) else (child,)
            )
            for item in items:
                _fill_heap_keys(item, seen)


def parsed_program(definition: str) -> Any:
    """The evaluation component tree of ``definition``, parsed once and shared between executions."""
    with _programs_lock:
        program = _programs.get(definition)
        if program is not None:
            _programs.move_to_end(definition)
            return program
        # parsed under the lock: concurrent first executions would otherwise all parse
        program = private.SFN_PARSER.load()(definition)[0]
        _fill_heap_keys(program, set())
        _programs[definition] = program
        while len(_programs) > _PROGRAM_CACHE_SIZE:
            _programs.popitem(last=False)
        return program


@once
def shared_parsed_program() -> None:
    """Parse each state machine definition once and share the parsed program between its executions.

    Upstream: ``ExecutionWorker._get_evaluation_entrypoint`` parses the definition with ANTLR for every
    execution, about a fifth of a local run's CPU time.

    Why it is safe: the parsed components keep their run-time state in each execution's ``Environment``
    (stack, heap keyed by ``heap_key``, event history), never on themselves; moto's own Map and Parallel
    states already evaluate one component tree from several threads at once. The one attribute set lazily
    on a component, ``EvalComponent.heap_key``, is filled in before the tree is shared, so no two executions
    race to assign it. The test runs concurrent executions of one definition with Map and Parallel states
    and compares their histories with those of an unpatched moto.
    """
    private.SFN_EVAL_COMPONENT.load()

    def _get_evaluation_entrypoint(self: Any) -> Any:
        return parsed_program(self._evaluation_details.state_machine_details.definition)

    private.SFN_EVALUATION_ENTRYPOINT.replace(_get_evaluation_entrypoint)


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


@once
def cached_boto_clients() -> None:
    """Reuse the interpreter's boto3 clients per default session, region and service.

    Upstream: ``boto_client_for`` builds a new boto3 client (service model, endpoint resolver, SSL context)
    for every Lambda task, about a tenth of a local run's time.

    Why it is safe: botocore clients are thread-safe; upstream's credentials are fixed dummies, so the key
    leaves them out; the key holds what decides the client's endpoint upstream (moto's stubber flag and
    server port) and the default session itself, so a new ``mock_aws`` (which replaces the default session)
    gets new clients that see the hooks registered on its session.
    """
    stubber = private.BOTOCORE_STUBBER.load()
    server_port = private.MOTO_SERVER_PORT.load()
    original = private.SFN_BOTO_CLIENT_FOR.load()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()  # what upstream's boto3.client() does first; the key needs it
        session = boto3.DEFAULT_SESSION
        key = (id(session), region, service, stubber.enabled, server_port())
        with _clients_lock:
            entry = _clients.get(key)
            if entry is not None and entry[0] is session:
                return entry[1]
        client = original(region=region, service=service, state_credentials=state_credentials)
        with _clients_lock:
            # the session is kept referenced so that its id cannot be reused by a later session
            _clients[key] = (session, client)
        return client

    # the task modules did ``from ...boto_client import boto_client_for``: import them all first (so none
    # binds the original later), then replace every binding
    task_package = private.SFN_TASK_STATES.module
    for module_info in pkgutil.walk_packages(private.SFN_TASK_STATES.load(), task_package + "."):
        importlib.import_module(module_info.name)
    private.SFN_BOTO_CLIENT_FOR.replace(boto_client_for)
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for


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


@once
def execution_end_signal() -> None:
    """Signal the end of each execution, so that ``wait_for_end`` needs no polling.

    Upstream: an execution signals nothing when it ends; a caller polls ``DescribeExecution`` through the
    whole botocore and moto request stack.

    The patch wraps ``ExecutionWorker._execution_logic`` (which returns after moto has recorded the final
    status) to set a per-execution event, and ``Execution.start`` to give a restarted ARN (a new
    ``mock_aws`` reusing an execution name) a fresh event, so that no waiter sees the previous one's end.
    """
    execution_logic = private.SFN_EXECUTION_LOGIC.load()
    start = private.SFN_EXECUTION_START.load()

    def _execution_logic(self: Any) -> None:
        execution = getattr(self._execution_communication, "execution", None)
        try:
            execution_logic(self)
        finally:
            if execution is not None:
                _end_event(execution.exec_arn).set()

    def _start(self: Any) -> None:
        with _ended_lock:
            _ended[self.exec_arn] = threading.Event()
        start(self)

    private.SFN_EXECUTION_LOGIC.replace(functools.wraps(execution_logic)(_execution_logic))
    private.SFN_EXECUTION_START.replace(functools.wraps(start)(_start))


@once
def finished_threads_released() -> None:
    """Drop an execution's finished threads from moto's ``TMP_THREADS`` list when the execution ends.

    Upstream: an execution appends a thread to the module-level ``TMP_THREADS`` list for its interpreter,
    its program, every Task state evaluation, every Map iteration and Parallel branch, and never removes
    them, so a long in-process run keeps five or more thread objects per image for ever. When an execution
    ends, every finished thread in the list is dropped (nothing in moto 5.2.5 reads the list).
    """
    threads = private.SFN_TMP_THREADS.load()
    execution_logic = private.SFN_EXECUTION_LOGIC.load()

    def _execution_logic(self: Any) -> None:
        try:
            execution_logic(self)
        finally:
            current = threading.current_thread()
            for thread in [t for t in list(threads) if t is current or not t.is_alive()]:
                with contextlib.suppress(ValueError):  # another execution removed it first
                    threads.remove(thread)

    private.SFN_EXECUTION_LOGIC.replace(functools.wraps(execution_logic)(_execution_logic))


@once
def cached_jsonpath_parse() -> None:
    """Parse each JSONPath expression once.

    Upstream: ``extract_json`` and ``ResultPath`` call jsonpath_ng's ``parse`` for every path evaluation,
    and jsonpath_ng builds a new PLY parser (tables included) on each call: a tenth of the interpreter's time.

    Why it is safe: a parsed jsonpath_ng expression is not changed by evaluating it (``find`` and ``update``
    take the data as an argument), so one parsed expression serves every execution and thread.
    """
    for name in (private.SFN_JSON_PATH_PARSE, private.SFN_RESULT_PATH_PARSE):
        parse: Callable[[str], Any] = name.load()
        name.replace(functools.lru_cache(maxsize=4096)(parse))


_s3_urls_lock = threading.Lock()
_s3_urls_endpoints: list[tuple[str, ...]] = []


@once
def s3_url_table_reloaded_on_change() -> None:
    """Reload moto's S3 URL module only when the custom S3 endpoints setting has changed.

    Upstream: ``S3Backend._url_module`` re-imports (``importlib.reload``) ``moto.s3.urls`` on every S3
    request, because custom S3 endpoints may come from the environment at any time.
    """
    private.S3_URL_MODULE.load()
    custom_endpoints = private.S3_CUSTOM_ENDPOINTS.load()
    urls = private.S3_URLS.owner()

    def _url_module(self: Any) -> Any:
        endpoints = tuple(custom_endpoints())
        with _s3_urls_lock:
            if _s3_urls_endpoints != [endpoints]:
                importlib.reload(urls)
                _s3_urls_endpoints[:] = [endpoints]
        return urls

    private.S3_URL_MODULE.replace(property(_url_module))
