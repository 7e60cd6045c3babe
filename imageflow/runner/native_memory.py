"""glibc's malloc kept from fragmenting during a long in-process run that moves image bytes between threads.

Each image passes through several buffers (upload, S3 read, base64, the endpoint request, the capture
record), most above glibc's 128 KiB mmap threshold, and on the interpreter's many short-lived threads. glibc
raises that threshold each time such a block is freed (up to 32 MiB), so after the first images every image
buffer comes from a per-thread arena instead of its own mapping, and the arenas fragment: the offline run's
peak RSS grew from 390 MB at 100 images to 519 MB at 1,000 with nothing left referenced in Python. A fixed
threshold keeps each large buffer in its own mapping, returned to the system when freed: 309 MB and 333 MB
(``benchmarks/workflow_benchmark.py`` child runs, ``MALLOC_MMAP_THRESHOLD_=131072`` against none).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default starting value, here kept fixed


def keep_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at its default for this process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the C library this process already uses
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # musl and others: their allocators do not have this behaviour to fix
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
