"""ReconcileBatch: turn a Distributed Map's result files into one manifest that reconciles with the listing.

Event (from classify_batch.asl.yml): ``{"bucket", "prefix", "execution_name", "started_at",
"result_writer": {"Bucket", "Key"}}`` where ``Key`` is the map's ``manifest.json``. Writes
``batch/runs/<execution_name>/manifest.jsonl`` (one line per listed object) and ``summary.json`` next to it,
and returns ``{"manifest": "s3://...", "summary": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from handlers.common import aws
from handlers.common.batch_manifest import Listed, manifest_text, plain_etag, reconcile, records_from_result_file
from handlers.common.errors import InvalidEventError
from handlers.common.observability import bind_invocation, logger

RUNS_PREFIX = "batch/runs/"


def _text(event: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = event.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidEventError(f"reconcileBatch: '{key}' must be a non-empty string, got {value!r}")
    return value


def _listing(bucket: str, prefix: str) -> Iterator[Listed]:
    paginator = aws.s3_client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield Listed(item["Key"], plain_etag(item.get("ETag")), item.get("LastModified"))


def _read_json(bucket: str, key: str) -> Any:
    body = aws.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def _records(writer: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    bucket, key = _text(writer, "Bucket"), _text(writer, "Key")
    manifest = _read_json(bucket, key)
    destination = manifest.get("DestinationBucket") or bucket
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for result_file in (manifest.get("ResultFiles") or {}).get(status) or []:
            yield from records_from_result_file(status, _read_json(destination, result_file["Key"]))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bind_invocation(event, context)
    bucket = _text(event, "bucket")
    prefix = _text(event, "prefix", allow_empty=True)
    name = _text(event, "execution_name")
    writer = event.get("result_writer")
    if not isinstance(writer, Mapping):
        raise InvalidEventError("reconcileBatch: 'result_writer' must be the map's ResultWriterDetails")
    started = event.get("started_at")
    started_at = datetime.fromisoformat(started.replace("Z", "+00:00")) if isinstance(started, str) else None

    result = reconcile(_listing(bucket, prefix), _records(writer), started_at=started_at)
    run_prefix = f"{RUNS_PREFIX}{name}/"
    manifest_key, summary_key = f"{run_prefix}manifest.jsonl", f"{run_prefix}summary.json"
    summary = {"bucket": bucket, "prefix": prefix, **result.summary, "manifest": f"s3://{bucket}/{manifest_key}"}
    s3 = aws.s3_client()
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key,
        Body=manifest_text(result.lines).encode("utf-8"),
        ContentType="application/x-ndjson",
    )
    s3.put_object(
        Bucket=bucket, Key=summary_key, Body=json.dumps(summary, indent=2).encode(), ContentType="application/json"
    )
    logger.info("Batch reconciled", extra={"summary": summary})
    return {"manifest": summary["manifest"], "summary_uri": f"s3://{bucket}/{summary_key}", "summary": summary}
