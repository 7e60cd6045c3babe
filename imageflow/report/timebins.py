"""Time handling for the report: ISO times on the command line, bin widths, a default bin."""

from __future__ import annotations

import re
from datetime import UTC, datetime

EN_DASH = "\u2013"  # typographic range dash, written as an escape so the source stays ASCII
_UNIT_SECONDS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_BIN_PATTERN = re.compile(r"^\s*(\d+)\s*(s|sec|min|m|h|d|w)\s*$", re.IGNORECASE)

# Widths a reader recognises, smallest first; the default bin is the first that keeps the
# plot at or under TARGET_MAX_BINS points.
NICE_BINS = (
    60, 5 * 60, 10 * 60, 15 * 60, 30 * 60,
    3600, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 7 * 86400,
)  # fmt: skip
TARGET_MAX_BINS = 60


def parse_bin(text: str) -> int:
    """Parse a bin width such as ``30s``, ``5min``, ``15m``, ``1h``, ``1d`` or ``1w`` into seconds."""
    match = _BIN_PATTERN.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"bad bin width {text!r}: use a positive number and s, min, h, d or w (e.g. 5min, 1h)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def format_bin(seconds: int) -> str:
    """The inverse of :func:`parse_bin`, in the largest whole unit."""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def default_bin(first: float, last: float) -> int:
    """Pick a readable bin width for data spanning ``first`` to ``last`` (epoch seconds)."""
    span = max(last - first, 0.0)
    for width in NICE_BINS:
        if span / width < TARGET_MAX_BINS:
            return width
    # Longer than a year: whole weeks, still at most TARGET_MAX_BINS bins.
    weeks = int(span // (NICE_BINS[-1] * TARGET_MAX_BINS)) + 1
    return weeks * NICE_BINS[-1]


def parse_time(text: str) -> float:
    """Parse an ISO 8601 date or time (``2026-11-20``, ``2026-11-20T13:00``, ``...Z``); naive is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"bad time {text!r}: use ISO 8601, e.g. 2026-11-20T13:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def to_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def format_time(epoch: float) -> str:
    """``2026-11-20 13:05`` (UTC, to the minute: enough for a summary line)."""
    return to_utc(epoch).strftime("%Y-%m-%d %H:%M")


def format_span(first: float, last: float) -> str:
    """``2026-11-20 13:00\u201318:00 UTC`` (en dash), repeating the date only when it changes."""
    start, end = to_utc(first), to_utc(last)
    end_text = format_time(last)
    if start.date() == end.date():
        end_text = end_text[len("2026-11-20 ") :]
    return f"{format_time(first)}{EN_DASH}{end_text} UTC"
