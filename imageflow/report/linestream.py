"""Split a binary stream into lines without copying each line out of the read buffer.

Capture lines are tens of KiB each; handing out ``(buffer, start, end)`` spans lets the parser
look only at the bytes it needs. Memory stays bounded by the chunk size plus the longest line,
and a line longer than ``max_line`` is reported as a single overlong line rather than buffered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

CHUNK_SIZE = 1 << 20
# SageMaker caps a request at 6 MB (8 MB as base64); anything far beyond that is not a capture.
MAX_LINE = 64 << 20

OVERLONG = -1  # `start` value of a span that stands for a discarded overlong line


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def iter_line_spans(
    stream: Readable, chunk_size: int = CHUNK_SIZE, max_line: int = MAX_LINE
) -> Iterator[tuple[bytearray, int, int]]:
    """Yield ``(buf, start, end)`` for each non-blank line of ``stream`` (newline excluded).

    ``buf`` is only valid until the next item is requested. An overlong line is yielded once
    as ``(buf, OVERLONG, OVERLONG)``.
    """
    buf = bytearray()
    pos = 0  # start of the first unconsumed line in buf
    scan = 0  # where to resume looking for a newline
    discarding = False  # inside an overlong line, dropping bytes until its newline
    while True:
        newline = buf.find(b"\n", scan)
        if newline >= 0:
            if discarding:
                discarding = False
                yield buf, OVERLONG, OVERLONG
            elif newline > pos and not _is_blank(buf, pos, newline):
                yield buf, pos, _strip_cr(buf, pos, newline)
            pos = scan = newline + 1
            continue
        # No complete line left in buf: drop what was consumed (cheap at the front of a
        # bytearray) and read more.
        del buf[:pos]
        pos = 0
        if len(buf) > max_line:
            discarding = True
            buf.clear()
        scan = len(buf)
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        buf += chunk
    if discarding:
        yield buf, OVERLONG, OVERLONG
    elif buf and not buf.isspace():
        yield buf, 0, _strip_cr(buf, 0, len(buf))


def _is_blank(buf: bytearray, start: int, end: int) -> bool:
    # Look at the first byte before slicing: copying every long line just to test it is costly.
    return buf[start] in _WHITESPACE and buf[start:end].isspace()


_WHITESPACE = b" \t\r\x0b\x0c"


def _strip_cr(buf: bytearray, start: int, end: int) -> int:
    # Tolerate CRLF line endings from files that passed through other tools.
    return end - 1 if end > start and buf[end - 1] == 0x0D else end
