"""The malloc arena cap (``imageflow.runner.native_memory``): threads allocating image-sized buffers at once share
two arenas instead of getting one each (glibc only; each case in its own interpreter, as the cap is per process)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Eight threads each hold a 300 KB buffer at the same moment; malloc_info then lists one <heap> per arena.
_PROBE = textwrap.dedent(
    """
    import ctypes, sys, threading
    from imageflow.runner import native_memory

    if sys.argv[1] == "capped":
        assert native_memory.limit_malloc_arenas()
    all_holding = threading.Barrier(8 + 1)
    done = threading.Event()

    def hold_a_buffer():
        buffer = bytearray(300_000)
        all_holding.wait()
        done.wait()

    threads = [threading.Thread(target=hold_a_buffer) for _ in range(8)]
    for thread in threads:
        thread.start()
    all_holding.wait()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stream = libc.fopen(sys.argv[2].encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    done.set()
    for thread in threads:
        thread.join()
    """
)

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the behaviour capped is glibc's malloc's",
)


def _arenas(mode: str, tmp_path: Path) -> int:
    report = tmp_path / f"{mode}.xml"
    subprocess.run([sys.executable, "-c", _PROBE, mode, str(report)], check=True)
    return len(re.findall(r"<heap nr=", report.read_text()))


@glibc_only
def test_without_the_cap_glibc_gives_concurrent_threads_arenas_of_their_own(tmp_path: Path) -> None:
    assert _arenas("default", tmp_path) > 2  # what fragmented a long run's memory


@glibc_only
def test_with_the_cap_concurrent_threads_share_two_arenas(tmp_path: Path) -> None:
    assert _arenas("capped", tmp_path) <= 2
