"""The fixed mmap threshold (``imageflow.runner.native_memory``): a large block freed no longer moves image-sized
buffers off their own mappings (glibc only; each case in its own interpreter, as the setting is per process)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

# Allocates and frees 4 MiB (glibc then raises its dynamic threshold to 4 MiB), then allocates an image-sized
# 256 KiB block and prints whether it got its own mapping (mallinfo2's count of mmapped blocks went up).
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from imageflow.runner import native_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "fixed":
        assert native_memory.keep_mmap_threshold()
    libc.free(libc.malloc(4 * 1024 * 1024))
    before = libc.mallinfo2().hblks
    block = libc.malloc(256 * 1024)
    print("own mapping" if libc.mallinfo2().hblks == before + 1 else "arena")
    libc.free(block)
    """
)

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the behaviour fixed is glibc's malloc's",
)


def _probe(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@glibc_only
def test_without_the_fix_glibc_moves_an_image_sized_buffer_into_the_arena_after_a_large_free() -> None:
    assert _probe("default") == "arena"  # the behaviour that made a long run's memory grow


@glibc_only
def test_with_the_threshold_kept_an_image_sized_buffer_still_gets_its_own_mapping() -> None:
    assert _probe("fixed") == "own mapping"
