"""Offline: keep the local bucket's review queue on disk when ``imageflow run`` ends."""

from __future__ import annotations

import sys
from typing import Any

from imageflow.review.queue import ReviewQueue, persist_bucket_prefix


def keep_review_queue(workflow: Any, queue: ReviewQueue | None = None) -> int:
    """Copy ``review/`` of the workflow's (in-memory) bucket to the queue folder; returns the records kept."""
    queue = queue or ReviewQueue.open()
    kept = persist_bucket_prefix(workflow.s3, workflow.bucket, queue)
    if kept:
        print(f"review queue: {kept} low-confidence image(s) recorded in {queue.root}", file=sys.stderr)
    return kept
