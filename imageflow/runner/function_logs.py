"""Send what a handler prints to its function's log, as the Lambda runtime does.

On Lambda, a function's stdout goes to CloudWatch Logs, not to whoever invoked it.
In-process it would land on the terminal, over the progress bar and the results table
(powertools prints its embedded-metric-format metrics with ``print``). While a thread runs
a handler, its writes to ``sys.stdout`` go to the ``imageflow.lambda.<function>`` logger
(shown with DEBUG logging); every other thread writes to the real stdout unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

_current = threading.local()
_install_lock = threading.Lock()


class _RoutingStdout:
    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        function = getattr(_current, "function", None)
        if function is None:
            return self._real.write(text)
        if text.strip():
            logging.getLogger(f"imageflow.lambda.{function}").debug("%s", text.rstrip("\n"))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def routed_stdout() -> Iterator[None]:
    """Route handler threads' stdout for the duration of a local workflow.

    Installed only while the workflow runs, around whatever ``sys.stdout`` was then (a
    terminal, or a test runner's capture), and put back afterwards.
    """
    with _install_lock:
        original = sys.stdout
        sys.stdout = _RoutingStdout(original)
    try:
        yield
    finally:
        with _install_lock:
            if isinstance(sys.stdout, _RoutingStdout) and sys.stdout._real is original:
                sys.stdout = original


@contextlib.contextmanager
def function_output(function: str) -> Iterator[None]:
    """Within this block, the current thread's stdout writes are ``function``'s log."""
    previous = getattr(_current, "function", None)
    _current.function = function
    try:
        yield
    finally:
        _current.function = previous
