"""Reconcile a batch: the Distributed Map's result files against the listing it ran over.

Pure functions (no AWS): ``reconcile`` takes the listed objects and the child results as the map's
``ResultWriter`` wrote them (AWS's format: ``SUCCEEDED_n.json``, ``FAILED_n.json``, ``PENDING_n.json``, each a
JSON array of child executions) and returns one line per listed object and a summary whose counts add up.
Nothing is lost (a listed object without a result becomes an ``error`` line named ``BatchResultMissing``)
and nothing is counted twice (a second result for the same key is dropped and counted).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PASSED = "passed"
LOW_CONFIDENCE = "low_confidence"
ERROR = "error"
EXCLUDED = "excluded"
OUTCOMES = (PASSED, LOW_CONFIDENCE, ERROR)
# prefixes the workflow itself writes to; objects there are outputs, never inputs of a batch
OWN_PREFIXES = ("batch/", "review/")
MISSING_RESULT = "BatchResultMissing"
NOT_RUN = "BatchItemNotRun"
CHILD_FAILED = "BatchChildFailed"


@dataclass(frozen=True)
class Listed:
    """One object of the listing: its key, ETag (without quotes) and last-modified time."""

    key: str
    etag: str
    last_modified: datetime | None = None


@dataclass
class Reconciliation:
    lines: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def plain_etag(etag: str | None) -> str:
    """ETags come quoted from S3 (``"abc"``); compare them without the quotes."""
    return (etag or "").strip('"')


def is_own_object(key: str) -> bool:
    return key.startswith(OWN_PREFIXES)


def records_from_result_file(status: str, entries: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """Outcome records from one result file's child executions (``status``: SUCCEEDED, FAILED or PENDING)."""
    for entry in entries:
        if status == "SUCCEEDED":
            output = _json(entry.get("Output"))
            if isinstance(output, Mapping) and isinstance(output.get("key"), str):
                yield dict(output)
                continue
            # a child that succeeded without a record: report it rather than lose the item
            item = _json(entry.get("Input")) or {}
            yield _error_record(item, CHILD_FAILED, "the child execution returned no outcome record")
            continue
        item = _json(entry.get("Input")) or {}
        if status == "FAILED":
            yield _error_record(item, entry.get("Error") or CHILD_FAILED, entry.get("Cause") or "")
        else:
            yield _error_record(item, NOT_RUN, "the map run ended before this item ran; redrive or rerun the batch")


def _json(text: Any) -> Any:
    if isinstance(text, Mapping):
        return text
    try:
        return json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        return None


def _error_record(item: Mapping[str, Any], error: str, cause: str) -> dict[str, Any]:
    # a child's input (s3_key, etag) or, as moto records it, the listed item itself (Key, Etag)
    return {
        "key": item.get("s3_key") or item.get("Key"),
        "etag": plain_etag(item.get("etag") or item.get("Etag")),
        "outcome": ERROR,
        "error": error,
        "cause": cause,
    }


def reconcile(
    listing: Iterable[Listed],
    records: Iterable[Mapping[str, Any]],
    *,
    started_at: datetime | None = None,
) -> Reconciliation:
    """One line per listed object (in listing order) and the summary; see the module docstring.

    Objects modified after ``started_at`` arrived after the map listed the prefix: they are counted,
    not reported (the next batch takes them). The batch's own outputs (``OWN_PREFIXES``) are counted as
    excluded.
    """
    by_key: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for record in records:
        key = record.get("key")
        if not isinstance(key, str) or record.get("outcome") == EXCLUDED:
            continue
        if key in by_key:
            duplicates += 1
            continue
        by_key[key] = dict(record)
    result = Reconciliation()
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    listed = excluded = later = reused = 0
    for item in listing:
        if started_at is not None and item.last_modified is not None and item.last_modified > started_at:
            later += 1
            continue
        listed += 1
        if is_own_object(item.key):
            excluded += 1
            by_key.pop(item.key, None)
            continue
        record = by_key.pop(item.key, None)
        if record is None:
            record = _error_record(
                {"s3_key": item.key, "etag": item.etag}, MISSING_RESULT, "no child result names this object"
            )
        line = {"key": item.key, "etag": item.etag, **{k: v for k, v in record.items() if k not in ("key", "etag")}}
        if line.get("outcome") not in OUTCOMES:
            line.update(outcome=ERROR, error=CHILD_FAILED, cause=f"unknown outcome {record.get('outcome')!r}")
        counts[line["outcome"]] += 1
        if line["outcome"] == ERROR:
            errors[str(line.get("error"))] += 1
        reused += bool(line.get("reused"))
        result.lines.append(line)
    result.summary = {
        "listed": listed,
        "excluded": excluded,
        "arrived_after_listing": later,
        **{name: counts.get(name, 0) for name in OUTCOMES},
        "errors": dict(sorted(errors.items())),
        "reused": reused,
        "duplicate_results_dropped": duplicates,
        "results_without_listed_object": len(by_key),
        "reconciled": len(result.lines) == listed - excluded and sum(counts.values()) == len(result.lines),
    }
    return result


def manifest_text(lines: Iterable[Mapping[str, Any]]) -> str:
    """The manifest as JSON lines (keys kept as written: unicode is not escaped)."""
    return "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
