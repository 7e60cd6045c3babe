"""Parse one SageMaker data-capture line into an inference, an input-only record or a skip reason.

A capture line carries the whole request: with images that is tens of KiB of base64 in
``endpointInput.data``, while the report needs only ``endpointOutput`` and ``inferenceTime``.
Decoding that string into a Python ``str`` per line dominates the cost of a naive reader, so
:func:`parse_capture_span` first locates ``"data"`` values with ``bytes.find`` (C ``memchr``
speed), cuts those longer than :data:`ELIDE_OVER` bytes out of the line, parses the short
remainder with orjson, and decodes a cut string only if it turns out to be one
the report needs. Elided strings are not validated (their content is never used); every
other part of the line is parsed strictly.

Two implementations share that scheme: :func:`parse_common_span`, lean straight-line code for
the valid records that make up nearly all of a capture, which may decline a line; and
:func:`parse_general_span`, which handles every line and names the reason for skipping one.
The common path only ever answers what the general one would (tests check this on generated
and damaged lines), so results never depend on which path a line took.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

# orjson rather than the standard library's json: after the cut, each line costs two small
# parses, and the standard library spends most of that in Python-level wrapper code. orjson
# is also strict (no NaN/Infinity literals, valid UTF-8 only), which suits validation.
from orjson import loads as _json_loads

# Strings longer than this many bytes are cut out before parsing. Any value is correct; it only
# trades parsing work against bookkeeping, and captured outputs are far shorter.
ELIDE_OVER = 512

_QUOTE = b'"'
_QUOTE_BYTE = 0x22
_COLON = 0x3A
_DATA_KEY = b'"data"'
_JSON_WHITESPACE = b" \t\r\n"
_BACKSLASH = 0x5C
# A JSON string can only hold NUL as the escape ``\u0000``, so a placeholder that starts with NUL
# is recognisable after parsing; the count check in _elide_long_strings rules out look-alikes.
_PLACEHOLDER_MARK = "\x00"
_PLACEHOLDER_ESCAPE = b"\\u0000"
_fromisoformat = datetime.fromisoformat


class SkipReason(StrEnum):
    """Why a line was not used. The values are what the report prints."""

    INVALID_JSON = "invalid JSON"
    MISSING_FIELD = "missing or mistyped field"
    BAD_TIME = "bad inferenceTime"
    UNKNOWN_ENCODING = "unknown encoding"
    UNDECODABLE_OUTPUT = "undecodable output"
    NON_NUMERIC = "non-numeric output"
    WRONG_SHAPE = "output shape does not match labels"
    NON_FINITE = "non-finite probability"
    OUT_OF_RANGE = "probability outside [0, 1]"
    LINE_TOO_LONG = "line too long"


class Inference(NamedTuple):
    """One captured endpoint response: when, which label won, and with what probability."""

    time: float  # seconds since the epoch, UTC
    label: int  # index into the label list (first maximum, like numpy.argmax)
    confidence: float  # the maximum probability


class InputOnly(NamedTuple):
    """A capture with the request but no response (output capture switched off)."""

    time: float


ParsedLine = Inference | InputOnly | SkipReason


class _Skip(Exception):
    def __init__(self, reason: SkipReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def parse_capture(line: bytes | str, n_labels: int) -> ParsedLine:
    """Parse one capture line (without its newline) for a model with ``n_labels`` outputs."""
    data = line.encode() if isinstance(line, str) else line
    return parse_capture_span(data, 0, len(data), n_labels)


def parse_capture_span(buf: bytes | bytearray, start: int, end: int, n_labels: int) -> ParsedLine:
    """Parse the capture line ``buf[start:end]`` without copying its long strings.

    Never raises for bad input: malformed lines come back as a :class:`SkipReason`.
    """
    common = parse_common_span(buf, start, end, n_labels)
    if common is not None:
        return common
    return parse_general_span(buf, start, end, n_labels)


def parse_common_span(buf: bytes | bytearray, start: int, end: int, n_labels: int) -> Inference | InputOnly | None:
    """The lean path for well-formed records; None whenever the line needs :func:`parse_general_span`.

    Same cut and the same strict parse as the general path, written for the records SageMaker
    writes almost all the time: no exception machinery, no per-field helper calls, no enum
    results. It answers only when the line is valid and its result is certain to equal the
    general path's; anything unusual (escapes next to a cut, a record to skip, integers or
    out-of-range values, a placeholder look-alike) returns None, so every skip reason still
    comes from one place. Tests compare the two paths on generated lines.
    """
    # Cut only the first long "data" string: in SageMaker's records that is the input, and
    # stopping there saves the searches after it. Any later long string is simply parsed (and
    # so validated) by orjson: slower for such rare lines, never wrong.
    find = buf.find
    pos = start
    cut_from = cut_to = 0  # the cut string's span in buf, quotes included; 0, 0 when none
    while True:
        key = find(_DATA_KEY, pos, end)
        if key < 0:
            reduced: bytes | bytearray = buf[start:end]
            break
        pos = key + len(_DATA_KEY)
        if key == start or buf[key - 1] == _BACKSLASH:
            return None  # maybe an escaped quote: leave the escape analysis to the general path
        # SageMaker writes compact JSON, so test for `"data":"` before skipping whitespace.
        if pos + 1 < end and buf[pos] == _COLON and buf[pos + 1] == _QUOTE_BYTE:
            opening = pos + 1
        else:
            colon = _skip_whitespace(buf, pos, end)
            if colon >= end or buf[colon] != _COLON:
                continue
            opening = _skip_whitespace(buf, colon + 1, end)
            if opening >= end or buf[opening] != _QUOTE_BYTE:
                continue
        closing = find(_QUOTE, opening + 1, end)
        if closing < 0 or buf[closing - 1] == _BACKSLASH:
            return None  # unterminated, or a quote that may be escaped
        if closing - opening - 1 > ELIDE_OVER:
            cut_from, cut_to = opening, closing + 1
            reduced = buf[start:opening] + _FIRST_PLACEHOLDER + buf[cut_to:end]
            if reduced.count(_PLACEHOLDER_ESCAPE) != 1:
                return None  # the line has an escaped NUL of its own: placeholder ambiguous
            break
        pos = closing + 1
    try:
        record = _json_loads(reduced)
    except (ValueError, RecursionError):
        return None
    if type(record) is not dict:
        return None
    capture = record.get("captureData")
    metadata = record.get("eventMetadata")
    if type(capture) is not dict or type(metadata) is not dict:
        return None
    when = metadata.get("inferenceTime")
    if type(when) is not str:
        return None
    # A per-prefix cache of parsed times was measured slower than this (0.4 us per call).
    try:
        moment = _fromisoformat(when)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    time = moment.timestamp()
    output = capture.get("endpointOutput")
    if output is None:
        return InputOnly(time) if type(capture.get("endpointInput")) is dict else None
    if type(output) is not dict:
        return None
    data = output.get("data")
    if type(data) is not str:
        return None
    if cut_to and data == _FIRST_PLACEHOLDER_TEXT:  # the output itself was the long string
        try:
            data = _json_loads(buf[cut_from:cut_to])
        except ValueError:
            return None
        if type(data) is not str:
            return None
    encoding = output.get("encoding")
    if encoding == "JSON":
        try:
            values = _json_loads(data)
        except (ValueError, RecursionError):
            return None
        if type(values) is not list:
            return None
    else:
        try:
            values = decode_output(data, encoding, output.get("observedContentType"))
        except _Skip:
            return None
    if len(values) != n_labels or not values:
        return None
    best = 0
    top = -1.0
    for index, value in enumerate(values):
        # Exactly float: ints, bools, NaN and out-of-range values take the general path.
        if type(value) is not float or not 0.0 <= value <= 1.0:
            return None
        if value > top:
            best, top = index, value
    return Inference(time, best, top)


_FIRST_PLACEHOLDER = b'"' + _PLACEHOLDER_ESCAPE + b'0"'  # what _elide_long_strings writes for its first cut
_FIRST_PLACEHOLDER_TEXT = _PLACEHOLDER_MARK + "0"  # ... and what it parses to


def parse_general_span(buf: bytes | bytearray, start: int, end: int, n_labels: int) -> ParsedLine:
    """Parse any line, down to the exact skip reason for a malformed one."""
    try:
        reduced, elided = _elide_long_strings(buf, start, end)
        try:
            record = _json_loads(reduced)
        except (ValueError, RecursionError):
            # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
            raise _Skip(SkipReason.INVALID_JSON) from None
        return _interpret(record, elided, buf, n_labels)
    except _Skip as skip:
        return skip.reason


def _elide_long_strings(
    buf: bytes | bytearray, start: int, end: int
) -> tuple[bytes | bytearray, list[tuple[int, int]]]:
    """Return the line with long ``"data"`` string values replaced by placeholders, and their spans.

    Only values of ``"data"`` keys are candidates (that is where SageMaker puts payloads), so
    the line is searched for that key with ``find`` instead of walking every string. An
    unescaped quote before ``data"`` is either the key's opening quote, or a closing quote after
    which the line is invalid JSON anyway (the parser stops at the bare ``d`` before reaching
    any placeholder), so the cut never changes how a line parses.
    """
    find = buf.find
    pieces: list[bytes | bytearray] = []
    spans: list[tuple[int, int]] = []
    kept_from = pos = start
    while True:
        key = find(_DATA_KEY, pos, end)
        if key < 0:
            break
        pos = key + len(_DATA_KEY)
        if _is_escaped(buf, key):
            continue
        colon = _skip_whitespace(buf, pos, end)
        if colon >= end or buf[colon] != _COLON:
            continue
        opening = _skip_whitespace(buf, colon + 1, end)
        if opening >= end or buf[opening] != _QUOTE_BYTE:
            continue
        closing = find(_QUOTE, opening + 1, end)
        while closing >= 0 and _is_escaped(buf, closing):
            closing = find(_QUOTE, closing + 1, end)
        if closing < 0:
            raise _Skip(SkipReason.INVALID_JSON)  # unterminated string
        if closing - opening - 1 > ELIDE_OVER:
            pieces.append(buf[kept_from:opening])
            pieces.append(b'"' + _PLACEHOLDER_ESCAPE + str(len(spans)).encode() + b'"')
            spans.append((opening, closing + 1))
            kept_from = closing + 1
        pos = closing + 1
    if not spans:
        return buf[start:end], spans
    pieces.append(buf[kept_from:end])
    reduced = b"".join(pieces)
    if reduced.count(_PLACEHOLDER_ESCAPE) != len(spans):
        # The line itself contains an escaped NUL, so placeholders would be ambiguous: parse it whole.
        return buf[start:end], []
    return reduced, spans


def _is_escaped(buf: bytes | bytearray, quote: int) -> bool:
    """Whether the quote at ``quote`` is preceded by an odd run of backslashes."""
    k = quote - 1
    while k >= 0 and buf[k] == _BACKSLASH:
        k -= 1
    return (quote - 1 - k) % 2 == 1


def _skip_whitespace(buf: bytes | bytearray, pos: int, end: int) -> int:
    while pos < end and buf[pos] in _JSON_WHITESPACE:
        pos += 1
    return pos


def _restore(value: Any, elided: list[tuple[int, int]], buf: bytes | bytearray) -> Any:
    """Decode a string that was cut out of the line, if ``value`` is a placeholder."""
    if elided and isinstance(value, str) and value.startswith(_PLACEHOLDER_MARK):
        first, last = elided[int(value[1:])]
        try:
            return _json_loads(buf[first:last])
        except ValueError:
            raise _Skip(SkipReason.INVALID_JSON) from None
    return value


def _interpret(record: Any, elided: list[tuple[int, int]], buf: bytes | bytearray, n_labels: int) -> ParsedLine:
    if not isinstance(record, dict):
        raise _Skip(SkipReason.MISSING_FIELD)
    capture = record.get("captureData")
    metadata = record.get("eventMetadata")
    if not isinstance(capture, dict) or not isinstance(metadata, dict):
        raise _Skip(SkipReason.MISSING_FIELD)
    time = _parse_time(_restore(metadata.get("inferenceTime"), elided, buf))
    output = capture.get("endpointOutput")
    if output is None:
        if isinstance(capture.get("endpointInput"), dict):
            return InputOnly(time)
        raise _Skip(SkipReason.MISSING_FIELD)
    if not isinstance(output, dict) or "data" not in output:
        raise _Skip(SkipReason.MISSING_FIELD)
    probabilities = decode_output(
        _restore(output["data"], elided, buf),
        _restore(output.get("encoding"), elided, buf),
        _restore(output.get("observedContentType"), elided, buf),
    )
    return _to_inference(time, probabilities, n_labels)


def _parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise _Skip(SkipReason.MISSING_FIELD if value is None else SkipReason.BAD_TIME)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Skip(SkipReason.BAD_TIME) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # SageMaker writes UTC; be lenient on a missing "Z"
    return moment.timestamp()


def decode_output(data: Any, encoding: Any, content_type: Any) -> list[Any]:
    """Turn ``endpointOutput.data`` into the list of values it encodes (not yet validated).

    Raises ``_Skip`` (internal) with the reason when it cannot.
    """
    kind = encoding.upper() if isinstance(encoding, str) else None
    if kind == "BASE64":
        if not isinstance(data, str):
            raise _Skip(SkipReason.MISSING_FIELD)
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _Skip(SkipReason.UNDECODABLE_OUTPUT) from None
        return _decode_text(text, _text_kind(content_type, text))
    if kind == "JSON":
        if isinstance(data, list):  # tolerate an already-embedded array
            return data
        if not isinstance(data, str):
            raise _Skip(SkipReason.MISSING_FIELD)
        return _decode_text(data, "json")
    if kind == "CSV":
        if not isinstance(data, str):
            raise _Skip(SkipReason.MISSING_FIELD)
        return _decode_text(data, "csv")
    raise _Skip(SkipReason.UNKNOWN_ENCODING)


def _text_kind(content_type: Any, text: str) -> str:
    if isinstance(content_type, str):
        lowered = content_type.lower()
        if "json" in lowered:
            return "json"
        if "csv" in lowered:
            return "csv"
    return "json" if text.lstrip()[:1] in ("[", "{") else "csv"


def _decode_text(text: str, kind: str) -> list[Any]:
    if kind == "json":
        try:
            value = _json_loads(text)
        except (ValueError, RecursionError):
            raise _Skip(SkipReason.NON_NUMERIC) from None
        if not isinstance(value, list):
            raise _Skip(SkipReason.WRONG_SHAPE)
        return value
    rows = [row for row in text.strip().splitlines() if row.strip()]
    if len(rows) != 1:
        raise _Skip(SkipReason.WRONG_SHAPE)
    cells = rows[0].split(",")
    try:
        return [float(cell) for cell in cells]
    except ValueError:
        raise _Skip(SkipReason.NON_NUMERIC) from None


def _to_inference(time: float, values: list[Any], n_labels: int) -> Inference:
    for value in values:
        # bool is an int subclass, but `true` is not a probability.
        if type(value) not in (float, int):
            raise _Skip(SkipReason.NON_NUMERIC)
    if len(values) != n_labels:
        raise _Skip(SkipReason.WRONG_SHAPE)
    try:
        values = [float(value) for value in values]
    except OverflowError:  # an integer too large for a float
        raise _Skip(SkipReason.OUT_OF_RANGE) from None
    best = 0
    for index, value in enumerate(values):
        if not math.isfinite(value):
            raise _Skip(SkipReason.NON_FINITE)
        if not 0.0 <= value <= 1.0:
            raise _Skip(SkipReason.OUT_OF_RANGE)
        if value > values[best]:
            best = index
    return Inference(time, best, values[best])
