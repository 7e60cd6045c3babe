"""Offline: the review queue the state machine writes goes from the in-memory local bucket to a folder."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runner imports the review package: only the annotation needs the workflow
    from imageflow.runner.workflow import LocalWorkflow


def keep_review_queue(workflow: LocalWorkflow) -> int:
    """Move what is left under ``review/`` to the workflow's queue folder and report; returns the run's records."""
    workflow.move_review_queue()
    kept = workflow.review_records_moved
    if kept:
        print(f"review queue: {kept} low-confidence image(s) recorded in {workflow.review_queue.root}", file=sys.stderr)
    return kept
