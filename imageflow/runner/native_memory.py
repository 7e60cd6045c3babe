"""glibc's malloc kept from fragmenting during a long in-process run that moves image bytes between threads.

moto's interpreter runs every execution, Task state and Map iteration on a new thread, and each image passes
through several buffers of 100 KB to 1 MB on them (upload, S3 read, base64, the endpoint request, the capture
record). glibc gives threads their own malloc arenas, up to eight per core, and each arena keeps the pages
its freed buffers leave behind, so the offline run's peak RSS grew from 402 MB at 100 images to 502 MB at
1,000 with nothing left referenced in Python. Two arenas keep it at 323 MB and 357 MB, for about 4 ms more
CPU per image out of 75 (``benchmarks/workflow_benchmark.py``'s workflow, side by side in separate
processes). A fixed mmap threshold flattened memory as well but cost about 12 ms per image in page faults.
"""

from __future__ import annotations

import ctypes
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas for this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the C library this process already uses
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # musl and others: their allocators do not have this behaviour to fix
    return bool(libc.mallopt(M_ARENA_MAX, ARENAS))
