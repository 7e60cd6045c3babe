"""Split a binary stream into lines without copying each line out of the read buffer.

Capture lines are tens of KiB each; handing out ``(buffer, start, end)`` spans lets the parser
look only at the bytes it needs. Memory stays bounded by the chunk size plus the longest line,
and a line longer than ``max_line`` is reported as a single overlong line rather than buffered.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Protocol

CHUNK_SIZE = 1 << 20
# SageMaker caps a request at 6 MB (8 MB as base64); anything far beyond that is not a capture.
MAX_LINE = 64 << 20

OVERLONG = -1  # `start` value of a span that stands for a discarded overlong line


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def iter_line_spans(
    stream: Readable, chunk_size: int = CHUNK_SIZE, max_line: int = MAX_LINE, buffer: bytearray | None = None
) -> Iterator[tuple[bytearray, int, int]]:
    """Yield ``(buf, start, end)`` for each non-blank line of ``stream`` (newline excluded).

    ``buf`` is only valid until the next item is requested. An overlong line is yielded once
    as ``(buf, OVERLONG, OVERLONG)``. Pass ``buffer`` to reuse one across streams; it must not
    be in use by another iterator at the same time.
    """
    # One buffer, reused: fresh large allocations per chunk (or per file) cost page faults that
    # showed up as the main cost of reading. It grows only when a single line does not fit.
    buf = buffer if buffer is not None else bytearray(chunk_size)
    view = memoryview(buf)
    readinto = _readinto_of(stream)
    filled = 0  # bytes of buf holding data
    pos = 0  # start of the first unconsumed line
    scan = 0  # where to resume looking for a newline
    discarding = False  # inside an overlong line, dropping bytes until its newline
    try:
        while True:
            newline = buf.find(b"\n", scan, filled)
            if newline >= 0:
                if discarding:
                    discarding = False
                    yield buf, OVERLONG, OVERLONG
                elif newline > pos and not _is_blank(buf, pos, newline):
                    yield buf, pos, _strip_cr(buf, pos, newline)
                pos = scan = newline + 1
                continue
            # Keep the partial line, moved to the front, and read more after it.
            rest = filled - pos
            if pos:
                view[:rest] = view[pos:filled]
            pos, filled, scan = 0, rest, rest
            if filled == len(buf):
                if filled >= max_line:
                    discarding, filled, scan = True, 0, 0
                else:
                    view.release()
                    buf.extend(bytes(len(buf)))  # double: amortised growth for one long line
                    view = memoryview(buf)
            count = readinto(view[filled:])
            if not count:
                break
            filled += count
        if discarding:
            yield buf, OVERLONG, OVERLONG
        elif filled > pos and not _is_blank(buf, pos, filled):
            yield buf, pos, _strip_cr(buf, pos, filled)
    finally:
        view.release()


def _readinto_of(stream: Readable) -> Callable[[memoryview], int]:
    """The stream's ``readinto`` or, for streams without one (S3 bodies), a copying stand-in."""
    direct = getattr(stream, "readinto", None)
    if direct is not None and not isinstance(stream, io.TextIOBase):
        try:
            direct(memoryview(bytearray(0)))
            return direct
        except (NotImplementedError, io.UnsupportedOperation, AttributeError):
            pass

    def copying(target: memoryview) -> int:
        data = stream.read(len(target))
        target[: len(data)] = data
        return len(data)

    return copying


def _is_blank(buf: bytearray, start: int, end: int) -> bool:
    # Look at the first byte before slicing: copying every long line just to test it is costly.
    return buf[start] in _WHITESPACE and buf[start:end].isspace()


_WHITESPACE = b" \t\r\x0b\x0c"


def _strip_cr(buf: bytearray, start: int, end: int) -> int:
    # Tolerate CRLF line endings from files that passed through other tools.
    return end - 1 if end > start and buf[end - 1] == 0x0D else end
