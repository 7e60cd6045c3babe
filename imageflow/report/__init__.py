"""Monitoring report over SageMaker data capture: confidence over time, under-threshold share, labels.

The reading API (:func:`read_captures`, :func:`summarise`) streams capture files and keeps only
compact per-inference columns; plotting and HTML live in their own modules and are imported by
the CLI only when a report is written.
"""

from imageflow.report.aggregate import BinnedSummary, CaptureStats, read_captures, summarise
from imageflow.report.captures import Inference, InputOnly, SkipReason, parse_capture

__all__ = [
    "BinnedSummary",
    "CaptureStats",
    "Inference",
    "InputOnly",
    "SkipReason",
    "parse_capture",
    "read_captures",
    "summarise",
]
