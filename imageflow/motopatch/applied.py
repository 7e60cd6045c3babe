"""Apply each patch once per process, whoever asks first."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

_applied: set[str] = set()
_lock = threading.RLock()  # re-entrant: a patch may apply the patches it builds on


def once(patch: Callable[[], None]) -> Callable[[], None]:
    """Make ``patch`` idempotent and thread-safe; its name and docstring are kept (the index reads them)."""

    @functools.wraps(patch)
    def apply() -> None:
        with _lock:
            if patch.__name__ in _applied:
                return
            patch()
            _applied.add(patch.__name__)

    return apply


def is_applied(patch: Callable[[], None]) -> bool:
    return patch.__name__ in _applied
